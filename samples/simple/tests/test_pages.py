"""The todo board: a page with a layout and a partial, escaped; and the app's HTML 404 page."""

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


async def test_the_board_renders_each_todo_in_the_layout(client):
    await client.post("/todos", json={"title": "buy <milk>"})
    await client.post("/todos", json={"title": "write tests"})
    await client.patch("/todos/2", json={"done": True})
    r = await client.get("/board")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.text
    assert "<title>Board (1 left)</title>" in page and "<h1>1 of 2 left</h1>" in page  # view in layout
    assert '<header><a href="/board">Todo board</a></header>' in page  # the layout's url_for and t
    assert '<li class="open">buy &lt;milk&gt;</li>' in page  # the partial, escaped
    assert '<li class="done">write tests</li>' in page


async def test_a_browser_gets_the_apps_404_page_and_an_api_client_json(client):
    page = await client.get("/nowhere", headers={"accept": BROWSER, "x-request-id": "rid-1"})
    assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Nothing here</h1>" in page.text and "request rid-1" in page.text
    assert "no route for GET /nowhere" in page.text
    api = await client.get("/nowhere")
    assert api.json()["error"]["code"] == "route.not_found"
