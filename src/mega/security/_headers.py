"""Secure response headers (the helmet set), on by default, computed once at boot.

`helmet` in app_config.py (or as a route option, which replaces the app's value; declared in
`mega.security._settings`):

    helmet = None                                   # the defaults below (also when the key is absent)
    helmet = False                                  # none of them
    helmet = {"x-frame-options": "DENY",            # change one header, keep the others
              "content-security-policy": False}     # drop one

The headers become part of the app's pre-serialised header block, so they cost nothing per request
on mega's server (through stock uvicorn they cost the most of any default: docs/adr/0007).
"""

from __future__ import annotations

from mega.http.response import Headers, encode_header
from mega.security._settings import DEFAULT_HELMET, HelmetSettings

__all__ = ["DEFAULT_HELMET", "helmet_headers", "shared_headers"]


def helmet_headers(settings: HelmetSettings) -> Headers:
    """The secure headers of `helmet` settings, encoded once at boot."""
    return [encode_header(name, value) for name, value in settings]


def shared_headers(sets: list[Headers]) -> Headers:
    """The headers every set has with the same value, in the first set's order: the secure headers of
    answers given before an app is known (the server's 400/408/431, a refused Host), so none of them
    is one an app turned off."""
    if not sets:
        return []
    rest = [set(headers) for headers in sets[1:]]
    return [pair for pair in sets[0] if all(pair in other for other in rest)]
