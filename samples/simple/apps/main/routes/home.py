"""The welcome route."""

WELCOME = {
    "type": "object",
    "required": ["name", "docs", "health"],
    "properties": {"name": {"type": "string"}, "docs": {"type": "string"}, "health": {"type": "string"}},
}


async def welcome(req, reply, ctx):
    return {"name": "mega simple sample", "docs": "/docs", "health": "/health/ready"}


def routes(router):
    router.get("/", welcome, response=WELCOME, summary="What this sample is and where to look next")
