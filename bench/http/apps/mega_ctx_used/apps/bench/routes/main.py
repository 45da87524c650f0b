"""Lazy-ctx evidence: handlers touch ctx.log (builds the per-request child logger; nothing is
emitted) and set ctx.user."""


async def hello(req, reply, ctx):
    log = ctx.log
    ctx.user = {"id": 1}
    assert log is not None
    return {"hello": "world"}


async def user(req, reply, ctx):
    log = ctx.log
    ctx.user = {"id": 1}
    assert log is not None
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
