"""The published test vectors (src/mega/asp/vectors.json, docs/reference/asp.md): the keys match an
RFC 5869 HKDF written out here, and sealing their inputs gives their ciphertext and tag."""

from __future__ import annotations

import hashlib
import hmac
import json
from importlib import resources
from pathlib import Path
from typing import Any

from mega.asp import Client
from mega.asp._wire import Keys, request_aad, response_aad, unb64

VECTORS: dict[str, Any] = json.loads(resources.files("mega.asp").joinpath("vectors.json").read_text())
DOC = Path(__file__).parents[3] / "docs" / "reference" / "asp.md"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()  # extract
    out, block, counter = b"", b"", 1
    while len(out) < length:  # expand
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_the_keys_are_hkdf_sha256_of_the_secret() -> None:
    secret = VECTORS["secret"].encode()
    for direction in ("request", "response"):
        expected = hkdf_sha256(secret, b"mega-asp/1", f"mega-asp/1 http {direction}".encode())
        assert VECTORS["keys"][direction] == expected.hex()


def test_request_vectors_seal_and_open() -> None:
    keys = Keys([VECTORS["secret"]], "request")
    client = Client(VECTORS["secret"])
    for v in VECTORS["requests"]:
        aad = request_aad(v["method"], v["path"], v["query"], v["timestamp"])
        assert aad.hex() == v["aad_hex"]
        nonce = unb64(v["nonce"], 12)
        assert nonce is not None
        plaintext = bytes.fromhex(v["plaintext_hex"])
        sealed = client.seal(v["method"], v["path"], plaintext, query=v["query"],
                             timestamp=int(v["timestamp"]), nonce=nonce)
        assert sealed.body.hex() == v["ciphertext_hex"] and sealed.headers["x-mega-asp-tag"] == v["tag"]
        tag = unb64(v["tag"], 16)
        assert tag is not None
        assert keys.open(nonce, bytes.fromhex(v["ciphertext_hex"]), tag, aad) == plaintext


def test_response_vectors_open_with_the_client() -> None:
    client = Client(VECTORS["secret"])
    for v in VECTORS["responses"]:
        assert response_aad(v["status"], v["request_nonce"]).hex() == v["aad_hex"]
        headers = {"x-mega-asp": "1", "x-mega-asp-nonce": v["nonce"], "x-mega-asp-tag": v["tag"]}
        opened = client.open(v["status"], headers, bytes.fromhex(v["ciphertext_hex"]), v["request_nonce"])
        assert opened.hex() == v["plaintext_hex"]


def test_the_docs_publish_the_same_vectors() -> None:
    text = DOC.read_text()
    for v in [*VECTORS["requests"], *VECTORS["responses"]]:
        assert v["ciphertext_hex"] in text and v["tag"] in text
    assert VECTORS["secret"] in text and VECTORS["keys"]["request"] in text
