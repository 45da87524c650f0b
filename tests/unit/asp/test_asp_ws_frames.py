"""ASP WebSocket frames: the Python helpers and the browser client (run by Node's WebCrypto) build
the same bytes; tampering, wrong namespace or direction, and plain frames are refused by code."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mega.asp import Client, ws_decrypt, ws_encrypt
from mega.asp._ws import WsKeys
from mega.errors import MegaError
from tests.services import unavailable

SECRET = "frames-secret-0123456789abcdefghijklmnop"
JS = Path(__file__).parents[3] / "src/mega/asp/asp.js"
NONCE = bytes(range(12))


def test_client_and_helpers_agree_and_bind_namespace_and_direction() -> None:
    frame = ws_encrypt(SECRET, {"type": "a", "payload": [1]}, ns="/ws/x", timestamp=1_700_000_000_000,
                       nonce=NONCE)
    assert frame == Client(SECRET).ws_encrypt({"type": "a", "payload": [1]}, ns="/ws/x",
                                              timestamp=1_700_000_000_000, nonce=NONCE)
    assert ws_decrypt(SECRET, frame, ns="/ws/x", sender="client") == {"type": "a", "payload": [1]}
    for ns, sender in (("/ws/y", "client"), ("/ws/x", "server")):
        with pytest.raises(MegaError) as info:
            ws_decrypt(SECRET, frame, ns=ns, sender=sender)
        assert info.value.code == "asp.decrypt_failed"
    with pytest.raises(MegaError) as info:
        ws_decrypt(SECRET, '{"type": "a"}', ns="/ws/x")
    assert info.value.code == "asp.signal"
    with pytest.raises(MegaError) as info:
        ws_decrypt(SECRET, frame, ns="/ws/x", sender="robot")
    assert info.value.code == "asp.invalid_sender"


def test_key_rotation_the_first_secret_seals_any_opens() -> None:
    old = "old-secret-0123456789abcdefghijklmnopqrs"
    frame = ws_encrypt(old, {"type": "t"}, ns="/n")
    plain, _ = WsKeys([SECRET, old]).open(frame, ns="/n", direction="request")
    assert json.loads(plain) == {"type": "t"}


def test_drift_is_checked_when_asked() -> None:
    frame = ws_encrypt(SECRET, {"type": "t"}, ns="/n", timestamp=int(time.time() * 1000) - 120_000)
    with pytest.raises(MegaError) as info:
        WsKeys([SECRET]).open(frame, ns="/n", direction="request", drift_ms=60_000)
    assert info.value.code == "asp.drift"


def test_the_browser_client_builds_and_opens_the_same_frames(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the browser client's WebSocket frames are checked with Node")
    server_frame = ws_encrypt(SECRET, {"type": "hello", "payload": {"n": "é"}}, ns="/ws/chat",
                              sender="server")
    script = tmp_path / "frames.mjs"
    script.write_text(f"""
        import {{ AspClient }} from {json.dumps(JS.as_uri())};
        const asp = await AspClient.create({json.dumps(SECRET)});
        const nonce = new Uint8Array([...Array(12).keys()]);
        const frame = await asp.wsEncrypt("/ws/chat", {{ type: "a", payload: [1] }},
                                          {{ timestamp: 1700000000000, nonce }});
        const opened = await asp.wsDecrypt("/ws/chat", {json.dumps(server_frame)});
        let refused = null;
        try {{ await asp.wsDecrypt("/ws/other", {json.dumps(server_frame)}); }}
        catch (e) {{ refused = e.code; }}
        console.log(JSON.stringify({{ frame, opened, refused }}));
    """)
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["frame"] == ws_encrypt(SECRET, '{"type":"a","payload":[1]}', ns="/ws/chat",
                                      timestamp=1_700_000_000_000, nonce=NONCE)
    assert out["opened"] == {"type": "hello", "payload": {"n": "é"}}
    assert out["refused"] == "asp.decrypt_failed"
