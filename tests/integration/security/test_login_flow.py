"""A login handler built on hash_password/verify_password and the brute-force guard, through HTTP."""

from __future__ import annotations

from pathlib import Path

from mega.testing import make_client, running, write_project

PROJECT = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
    "apps/web/app_config.py": "config = {}\n",
    "apps/web/routes/auth.py": """
        from mega.errors import UnauthorizedError
        from mega.security import BruteForceGuard, Passwords

        PASSWORDS = Passwords(time_cost=1, memory_cost=1024, parallelism=1)
        USERS = {}

        async def register(req, reply, ctx):
            body = await req.json()
            USERS[body["email"].casefold()] = await PASSWORDS.hash(body["password"])
            return {"registered": body["email"]}

        async def login(req, reply, ctx):
            body = await req.json()
            guard = BruteForceGuard(ctx.cache(), max_failures=3)
            stored = USERS.get(body["email"].casefold())
            def check():
                return stored is not None and PASSWORDS.verify(stored, body["password"])

            ok = await guard.attempt(body["email"], req.client, check)
            if not ok:
                raise UnauthorizedError(message="wrong email or password")
            return {"welcome": body["email"]}

        def routes(router):
            router.post("/register", register)
            router.post("/login", login)
    """,
}


async def test_login_locks_after_three_failures_and_says_when_to_retry(tmp_path: Path) -> None:
    async with running(write_project(tmp_path, PROJECT)) as rt, make_client(rt) as http:
        registered = await http.post("/register", json={"email": "ann@x.io", "password": "s3cret"})
        assert registered.status_code == 200
        assert (await http.post("/login", json={"email": "ann@x.io", "password": "s3cret"})).json()["data"] \
            == {"welcome": "ann@x.io"}
        for _ in range(3):
            wrong = await http.post("/login", json={"email": "ANN@x.io", "password": "guess"})
            assert wrong.status_code == 401
        locked = await http.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
        assert locked.status_code == 429
        error = locked.json()["error"]
        assert error["code"] == "auth.locked" and error["details"]["scope"] == "account"
        assert 890 <= error["details"]["retry_after"] <= 900
        other = await http.post("/login", json={"email": "bob@x.io", "password": "x"})
        assert other.status_code == 401  # another account is not locked
