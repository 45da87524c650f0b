"""ASP's wire format, version 1: header names, key derivation, associated data, seal and open.

Shared by the server (mega.asp._http) and the Python client (mega.asp.client), so both sides build
the same bytes from one definition; docs/reference/asp.md describes it for other clients.

    keys      HKDF-SHA256(secret UTF-8, salt "mega-asp/1", info "mega-asp/1 http request|response"), 32 bytes
    request   AAD "mega-asp/1 request\\n{METHOD}\\n{path}\\n{query}\\n{timestamp}"
    response  AAD "mega-asp/1 response\\n{status}\\n{request nonce}"
    body      AES-256-GCM ciphertext (as long as the plaintext); nonce and tag travel in headers
"""

from __future__ import annotations

import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "NONCE",
    "SIGNAL",
    "TAG",
    "TIMESTAMP",
    "VERSION",
    "Keys",
    "b64",
    "b64_bytes",
    "derive_key",
    "request_aad",
    "response_aad",
    "unb64",
]

VERSION = b"1"
SIGNAL = b"x-mega-asp"  # "1": this body is ASP version 1
TIMESTAMP = b"x-mega-asp-ts"  # milliseconds since the Unix epoch, decimal (requests only)
NONCE = b"x-mega-asp-nonce"  # 12 bytes, base64url without padding
TAG = b"x-mega-asp-tag"  # the 16-byte GCM tag, base64url without padding
NONCE_SIZE = 12  # 96 bits: GCM's recommended nonce length (NIST SP 800-38D §8.2.2, random construction)
TAG_SIZE = 16
SALT = b"mega-asp/1"
DIRECTIONS = ("request", "response")


def derive_key(secret: str, direction: str, context: str = "http") -> bytes:
    """The 32-byte AES key for one direction of one context (RFC 5869 HKDF with SHA-256)."""
    info = f"mega-asp/1 {context} {direction}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info).derive(secret.encode("utf-8"))


def request_aad(method: str, path: str, query: str, timestamp: str) -> bytes:
    """What a request's tag also covers: method, path (percent-decoded), raw query string, timestamp."""
    return f"mega-asp/1 request\n{method}\n{path}\n{query}\n{timestamp}".encode()


def response_aad(status: int, request_nonce: str | bytes) -> bytes:
    """What a response's tag also covers: its status and the nonce of the request it answers (as sent)."""
    if isinstance(request_nonce, str):
        request_nonce = request_nonce.encode("ascii")
    return b"mega-asp/1 response\n%d\n%s" % (status, request_nonce)


def b64(raw: bytes) -> str:
    return b64_bytes(raw).decode("ascii")


def b64_bytes(raw: bytes) -> bytes:
    """Unpadded base64url, as the bytes a header carries."""
    return binascii.b2a_base64(raw, newline=False).translate(_TO_URL).rstrip(b"=")


def unb64(text: str | bytes, size: int) -> bytes | None:
    """`size` bytes from unpadded base64url, or None when `text` is not exactly that."""
    raw = text.encode("latin-1") if isinstance(text, str) else text
    if len(raw) != (size * 4 + 2) // 3 or not raw.isascii():
        return None
    # Only the canonical spelling (the unused low bits of the last character zero), so one nonce has one
    # header value.
    if size % 3 and raw[-1] not in _CANONICAL_LAST[size % 3]:
        return None
    try:
        decoded = binascii.a2b_base64(raw.translate(_FROM_URL) + b"=" * (-len(raw) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == size else None


_TO_URL = bytes.maketrans(b"+/", b"-_")
# '+' and '/' are not base64url: map them to a byte a2b_base64 refuses, so they cannot pass as '-' / '_'.
_FROM_URL = bytes.maketrans(b"-_+/", b"+/!!")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# size % 3 -> the characters that may end it: 1 byte over leaves 4 unused bits, 2 bytes over leave 2.
_CANONICAL_LAST = {1: frozenset(_ALPHABET[::16]), 2: frozenset(_ALPHABET[::4])}


class Keys:
    """The AES-GCM ciphers of a list of secrets for one direction: the first seals, any opens.

    Built once (key derivation and the AES key schedule happen here, never per message).
    """

    __slots__ = ("ciphers",)

    def __init__(self, secrets: tuple[str, ...] | list[str], direction: str, context: str = "http") -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if not secrets:
            raise ValueError("at least one secret is needed")
        self.ciphers = tuple(AESGCM(derive_key(s, direction, context)) for s in secrets)

    def seal(self, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> tuple[bytes, bytes, bytes]:
        """(nonce, ciphertext, tag) under the first secret; a fresh random nonce unless one is given."""
        if nonce is None:
            nonce = os.urandom(NONCE_SIZE)
        sealed = self.ciphers[0].encrypt(nonce, plaintext, aad)
        return nonce, sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]

    def open(self, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None when no secret's key authenticates it (the GCM tag compares in
        constant time inside OpenSSL)."""
        sealed = ciphertext + tag
        for cipher in self.ciphers:
            try:
                return cipher.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
        return None
