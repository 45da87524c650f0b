"""The other route shapes of the benchmark (bench/http/harness/shapes.py), written the way the mega
docs show them: a query parameter, a 1 KiB JSON POST validated by a pydantic model and by a JSON
Schema, and a value read from the memory cache through ctx. The 404 shape needs no route."""

from pydantic import BaseModel, Field

ITEM_SCHEMA = {
    "type": "object",
    "required": ["name", "price", "tags", "description"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "price": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 50},
        "description": {"type": "string", "maxLength": 2000},
    },
}


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    tags: list[str] = Field(max_length=50)
    description: str = Field(max_length=2000)


async def search(req):
    return {"q": req.query.get("q")}


async def item_pydantic(req):
    item = req.data
    return {"name": item.name, "tags": len(item.tags)}


async def item_schema(req):
    item = req.data
    return {"name": item["name"], "tags": len(item["tags"])}


async def cached(req, reply, ctx):
    value = await ctx.cache().get("bench:greeting")
    if value is None:
        value = "hello from the cache"
        await ctx.cache().set("bench:greeting", value)
    return {"value": value}


def routes(router):
    router.get("/search", search)
    router.post("/items/pydantic", item_pydantic, body=Item)
    router.post("/items/schema", item_schema, body=ITEM_SCHEMA)
    router.get("/cached", cached)
