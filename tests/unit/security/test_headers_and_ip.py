"""Secure headers from config, and the client address behind trusted proxies."""

from __future__ import annotations

import pytest

from mega.errors import MegaError
from mega.security.client_ip import TrustedProxies
from mega.security.headers import DEFAULT_HELMET, helmet_headers


def test_helmet_defaults_overrides_and_off() -> None:
    default = dict(helmet_headers(None, where="w"))
    assert len(default) == 12 and default[b"x-frame-options"] == b"SAMEORIGIN"
    assert default[b"x-content-type-options"] == b"nosniff"
    changed = dict(helmet_headers({"X-Frame-Options": "DENY", "content-security-policy": False}, where="w"))
    assert changed[b"x-frame-options"] == b"DENY" and b"content-security-policy" not in changed
    assert len(changed) == len(DEFAULT_HELMET) - 1
    added = dict(helmet_headers({"permissions-policy": "camera=()"}, where="w"))
    assert added[b"permissions-policy"] == b"camera=()"
    assert helmet_headers(False, where="w") == []


@pytest.mark.parametrize("cfg, fragment", [
    (True, "must be None, False or a dict"),
    ({"x-frame-options": 1}, "'x-frame-options' must be a non-empty string"),
    ({"x-frame-options": "a\r\nb"}, "CR, LF"),
    ({"bad header": "x"}, "invalid response header name"),
])
def test_bad_helmet_config_names_the_file(cfg: object, fragment: str) -> None:
    with pytest.raises(MegaError) as info:
        helmet_headers(cfg, where="apps/web/app_config.py")
    assert info.value.code == "helmet.invalid_config"
    assert info.value.message.startswith("apps/web/app_config.py: helmet:") and fragment in info.value.message


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
