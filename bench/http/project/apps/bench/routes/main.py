"""hello-JSON and path params, written the way the mega docs show them."""


async def hello():
    return {"hello": "world"}


async def user(req):
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
