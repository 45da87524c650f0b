"""Filler routes, generated at import time: a mix of static and parametrised paths, some of them
siblings of /users/{id:int} in the segment trie. They only have to exist: the benchmark requests
GET / and GET /users/42 and checks that route count does not change their cost. The harness sets
COUNT per variant (8 in the base project: 2 + 8 = 10 routes)."""

COUNT = 8


def _handler(i):
    async def filler(req):
        return {"filler": i}

    filler.__qualname__ = f"filler_{i}"
    return filler


def routes(router):
    for i in range(COUNT):
        kind = i % 4
        if kind == 0:
            router.get(f"/static{i}/page", _handler(i))
        elif kind == 1:
            router.get(f"/items{i}/{{id:int}}", _handler(i))
        elif kind == 2:
            router.get(f"/users/{{id:int}}/f{i}", _handler(i))
        else:
            router.get(f"/users/s{i}", _handler(i))
