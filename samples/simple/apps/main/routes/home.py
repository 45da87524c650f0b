"""The welcome route."""


async def welcome(req, reply, ctx):
    return {"name": "mega simple sample", "docs": "/todos", "health": "/health/ready"}


def routes(router):
    router.get("/", welcome)
