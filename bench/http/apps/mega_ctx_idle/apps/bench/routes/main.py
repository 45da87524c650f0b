"""Lazy-ctx evidence: handlers take (req, reply, ctx) and never touch reply or ctx."""


async def hello(req, reply, ctx):
    return {"hello": "world"}


async def user(req, reply, ctx):
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
