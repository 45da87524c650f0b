"""Secure headers from config, and the client address behind trusted proxies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.boot.stages import BootError
from mega.config import ConfigError
from mega.errors import MegaError
from mega.security._client_ip import TrustedProxies
from mega.security._headers import DEFAULT_HELMET, helmet_headers
from mega.security._settings import security_settings
from mega.testing import boot_for_test, write_project

WEB = "apps/web/app_config.py"


def helmet(cfg: object) -> dict[bytes, bytes]:
    return dict(helmet_headers(security_settings({"helmet": cfg}, file=WEB).helmet))


def test_helmet_defaults_overrides_and_off() -> None:
    default = helmet(None)
    assert len(default) == 12 and default[b"x-frame-options"] == b"SAMEORIGIN"
    assert default[b"x-content-type-options"] == b"nosniff"
    changed = helmet({"X-Frame-Options": "DENY", "content-security-policy": False})
    assert changed[b"x-frame-options"] == b"DENY" and b"content-security-policy" not in changed
    assert len(changed) == len(DEFAULT_HELMET) - 1
    added = helmet({"permissions-policy": "camera=()"})
    assert added[b"permissions-policy"] == b"camera=()"
    assert helmet(False) == {}


@pytest.mark.parametrize("cfg, key, message", [
    (True, "helmet", "helmet must be None, False or a dict of header overrides, got True (bool)"),
    ({"x-frame-options": 1}, "helmet.x-frame-options",
     "helmet.x-frame-options must be a non-empty string (the header's value) or False (drop it), got 1"),
    ({"x-frame-options": "a\r\nb"}, "helmet.x-frame-options",
     "helmet.x-frame-options must not contain CR, LF or NUL, got 'a\\r\\nb'"),
    ({"bad header": "x"}, "helmet.bad header", "helmet has an invalid HTTP header name 'bad header'"),
])
def test_bad_helmet_config_names_the_file(cfg: object, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        helmet(cfg)
    [problem] = info.value.problems
    assert (problem.key, problem.file) == (key, WEB)
    assert problem.message == f"{WEB}: {message}"


def scope(peer: str | None, *xff: str) -> dict[str, object]:
    return {"client": (peer, 5000) if peer else None,
            "headers": [(b"x-forwarded-for", v.encode()) for v in xff]}


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    none = TrustedProxies()
    assert not none
    assert none.client_ip(scope("10.0.0.5", "1.2.3.4")) == "10.0.0.5"  # a forged header is ignored
    assert none.client_ip(scope(None)) is None


def test_forwarded_for_is_read_from_the_right_past_trusted_hops() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    assert proxies.client_ip(scope("10.0.0.5", "1.2.3.4")) == "1.2.3.4"
    # The client forged the first entry; the trusted proxy appended the real one.
    assert proxies.client_ip(scope("10.0.0.5", "6.6.6.6, 1.2.3.4")) == "1.2.3.4"
    assert proxies.client_ip(scope("10.0.0.5", "1.2.3.4, 10.0.0.7")) == "1.2.3.4"  # two proxies
    assert proxies.client_ip(scope("10.0.0.5", "1.2.3.4", "10.1.1.1")) == "1.2.3.4"  # two header lines
    assert proxies.client_ip(scope("10.0.0.5", "10.0.0.9")) == "10.0.0.9"  # all trusted: the leftmost
    assert proxies.client_ip(scope("10.0.0.5")) == "10.0.0.5"  # no header: the proxy itself
    assert proxies.client_ip(scope("8.8.8.8", "1.2.3.4")) == "8.8.8.8"  # untrusted peer: header ignored
    assert proxies.client_ip(scope("::1", "2001:db8::1")) == "2001:db8::1"


def test_a_bad_trusted_proxy_entry_is_refused() -> None:
    with pytest.raises(MegaError) as info:
        TrustedProxies(["10.0.0.0/8", "localhost"])
    assert info.value.code == "server.invalid_trusted_proxy" and "'localhost'" in info.value.message


# -- route options: the same checks, at boot --------------------------------------------------------


async def test_a_bad_route_option_fails_boot_as_a_config_problem_naming_the_route(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # route files are named relative to where mega runs
    files = {
        "mega_config.py": "config = {}\n",
        "apps/web/app_config.py": "config = {}\n",
        "apps/web/routes/pages.py": """
            def routes(router):
                router.post("/login", lambda: 1, rate_limit={"max": 0, "window": "1m"}, cors={"origin": []})
        """,
    }
    with pytest.raises(BootError) as info:
        await boot_for_test(write_project(tmp_path, files))
    assert info.value.stage == "apps"
    route = "apps/web/routes/pages.py (route POST /login)"
    problems = info.value.original.problems  # type: ignore[attr-defined]
    assert [(p.code, p.key, p.file, p.message) for p in problems] == [
        ("config.unknown_key", "cors.origin", route,
         f"unknown key 'cors.origin' in {route} — did you mean 'cors.origins'?"),
        ("config.invalid_value", "cors.origins", route, f"{route}: cors.origins is required"),
        ("config.invalid_value", "rate_limit.max", route,
         f"{route}: rate_limit.max must be an integer >= 1, got 0"),
    ]


def test_route_options_replace_the_app_settings_for_that_route_only() -> None:
    from mega.http.router import RouteDef
    from mega.security._policy import AppSecurity

    security = AppSecurity(security_settings({"csrf": False}, file=WEB), app_name="web", hosts=["a.com"])
    plain = RouteDef("GET", "/", lambda: 1)
    tight = RouteDef("POST", "/login", lambda: 1, {"rate_limit": {"max": 3, "window": "10s"}, "csrf": True})
    assert security.route_settings(plain) == (None, False, security.rate)
    cors, csrf, rate = security.route_settings(tight)
    assert cors is None and csrf is True and rate is not None and (rate.max, rate.window) == (3, 10.0)
    assert security.route_helmet(plain) is None
    assert security.route_helmet(RouteDef("GET", "/x", lambda: 1, {"helmet": False})) == []
