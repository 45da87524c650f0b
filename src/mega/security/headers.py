"""Secure response headers (the helmet set), on by default, computed once at boot.

`helmet` in app_config.py (or as a route option, which replaces the app's value):

    helmet = None                                   # the defaults below (also when the key is absent)
    helmet = False                                  # none of them
    helmet = {"x-frame-options": "DENY",            # change one header, keep the others
              "content-security-policy": False}     # drop one

The headers become part of the app's pre-serialised header block, so they cost nothing per request
on mega's server (through stock uvicorn they cost the most of any default: docs/adr/0007).
"""

from __future__ import annotations

from collections.abc import Mapping

from mega.errors import MegaError
from mega.http.response import Headers, encode_header

__all__ = ["DEFAULT_HELMET", "helmet_headers"]

# helmet 7's defaults, in its order.
DEFAULT_HELMET: dict[str, str] = {
    "content-security-policy": (
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
        "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
        "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
    ),
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "SAMEORIGIN",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}


def _error(where: str, message: str, hint: str) -> MegaError:
    return MegaError("helmet.invalid_config", f"{where}: helmet: {message}", hint=hint, status=500,
                     details={"where": where})


def helmet_headers(cfg: object, *, where: str) -> Headers:
    """The secure headers for a `helmet` value (None = defaults, False = none, dict = overrides)."""
    if cfg is None:
        cfg = {}
    if cfg is False:
        return []
    if not isinstance(cfg, Mapping):
        raise _error(where, f"must be None, False or a dict of header overrides, got {cfg!r}",
                     "e.g. {'x-frame-options': 'DENY', 'content-security-policy': False}")
    values: dict[str, str] = dict(DEFAULT_HELMET)
    for name, value in cfg.items():
        key = str(name).lower()
        if value is False or value is None:
            values.pop(key, None)
        elif isinstance(value, str) and value:
            values[key] = value
        else:
            raise _error(where, f"{name!r} must be a non-empty string (its value) or False (drop it), "
                         f"got {value!r}", "e.g. {'x-frame-options': 'DENY'}")
    try:
        return [encode_header(name, value) for name, value in values.items()]
    except MegaError as exc:
        raise _error(where, exc.message, "header names are letters, digits and dashes; values one line") \
            from exc
