"""The simple sample end to end through its HTTP surface."""


async def test_welcome_and_health(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert r.json()["data"]["name"] == "mega simple sample"
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/health/ready")).json()["data"]["status"] == "ready"


async def test_todo_lifecycle(client):
    r = await client.post("/todos", json={"title": "write tests"})
    assert r.status_code == 201
    todo = r.json()["data"]
    assert todo == {"id": 1, "title": "write tests", "done": False}
    r = await client.patch(f"/todos/{todo['id']}", json={"done": True})
    assert r.json()["data"]["done"] is True
    assert [t["id"] for t in (await client.get("/todos", params={"done": "true"})).json()["data"]] == [1]
    assert (await client.get("/todos", params={"done": "false"})).json()["data"] == []
    r = await client.delete(f"/todos/{todo['id']}")
    assert r.status_code == 204 and r.content == b""
    r = await client.get(f"/todos/{todo['id']}")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "todo.not_found", "message": "no todo with id 1", "details": {"id": 1}}


async def test_bad_input_gets_clear_errors(client):
    r = await client.post("/todos", json={"title": ""})
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["path"] == "/title"
    r = await client.get("/todos", params={"colour": "red"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation.failed"
    r = await client.get("/todos/abc")
    assert r.status_code == 404


async def test_the_api_documents_itself(client):
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "mega simple sample"
    assert set(document["paths"]) == {"/", "/todos", "/todos/{id}"}
    assert document["paths"]["/todos"]["post"]["summary"] == "Add a todo"
    page = await client.get("/docs")
    assert page.status_code == 200 and 'data-url="/openapi.json"' in page.text
