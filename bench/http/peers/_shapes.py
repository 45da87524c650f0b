"""What the peers share for the extra route shapes: the pydantic model and the JSON Schema of the 1 KiB
POST body (the same constraints as the mega project's), the schema compiled by fastjsonschema (the
engine mega validates with), and the cached value (a module-level dict: no cache layer to go through)."""

import fastjsonschema
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
validate_item = fastjsonschema.compile(ITEM_SCHEMA)
SchemaError = fastjsonschema.JsonSchemaValueException


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    tags: list[str] = Field(max_length=50)
    description: str = Field(max_length=2000)


CACHE = {"greeting": "hello from the cache"}


def answer(name, tags):
    return {"name": name, "tags": len(tags)}
