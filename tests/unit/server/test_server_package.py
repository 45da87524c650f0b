"""`mega.server`'s public names."""

from __future__ import annotations

import pytest


def test_the_package_exposes_the_server_api_and_refuses_unknown_names() -> None:
    import mega.server

    assert mega.server.make_protocol_class().__mro__[1] is mega.server.HardenedHttpProtocol
    assert mega.server.RAW_HEADERS_EXTENSION == "mega.raw_headers"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mega.server.nope  # type: ignore[attr-defined]
