"""Sealed tokens: AES-256-GCM under a key derived per purpose from the server's secret, with a key id.

`<prefix>_<kid>_<base64url(nonce ‖ ciphertext)>`, the `<prefix>_<kid>_` also authenticated: a token of
one purpose never opens as another (a refresh token or a code is no bearer), a changed byte opens as
nothing, and a keyring of several secrets lets old tokens open while new ones use the first secret.
Expiry is in the payload and checked on opening; what a payload means (its audience, its family) is
for its reader.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from enum import Enum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from twill_mcp.core.config import parse_keyring

NONCE_BYTES = 12


class Purpose(Enum):
    """What a sealed text is for: its prefix, and the derived key that seals it."""

    ACCESS = "tma"
    REFRESH = "tmr"
    CODE = "tmc"
    REQUEST = "tmq"
    CLIENT = "tmcl"


class Keyring:
    """The secrets of `TWILL_MCP_OAUTH_SECRETS`: the first seals, every one opens."""

    def __init__(self, keyring: SecretStr) -> None:
        entries = parse_keyring(keyring.get_secret_value())
        self._sealing_kid = entries[0][0]
        self._ciphers = {
            (kid, purpose): AESGCM(_derive(secret, f"twill-mcp/{purpose.name.lower()}/v1"))
            for kid, secret in entries
            for purpose in Purpose
        }
        # For MACs (CSRF tokens, DCR client secrets): only the sealing secret, as they live minutes or are
        # re-derived from a sealed client id, which itself carries the kid it was made under.
        self._macs = {kid: _derive(secret, "twill-mcp/mac/v1") for kid, secret in entries}

    def seal(self, purpose: Purpose, payload: dict[str, Any]) -> str:
        head = f"{purpose.value}_{self._sealing_kid}_"
        nonce = os.urandom(NONCE_BYTES)
        body = json.dumps(payload, separators=(",", ":")).encode()
        sealed = self._ciphers[(self._sealing_kid, purpose)].encrypt(nonce, body, head.encode())
        return head + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, purpose: Purpose, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The payload, or None for anything else: another purpose, an unknown kid, a changed byte, expired."""
        prefix, _, rest = token.partition("_")
        kid, _, blob = rest.partition("_")
        cipher = self._ciphers.get((kid, purpose)) if prefix == purpose.value else None
        if cipher is None or not blob:
            return None
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            payload = json.loads(cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{prefix}_{kid}_".encode()))
        except (binascii.Error, ValueError, InvalidTag):
            return None
        if not isinstance(payload, dict):
            return None
        expires = payload.get("exp")
        if isinstance(expires, int | float) and expires < (time.time() if now is None else now):
            return None
        return payload

    def mac(self, text: str, kid: str | None = None) -> str | None:
        """A keyed digest of `text` under the secret `kid` (default: the sealing one); None for an unknown kid."""
        key = self._macs.get(kid or self._sealing_kid)
        if key is None:
            return None
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def kid_of(token: str) -> str:
        return token.partition("_")[2].partition("_")[0]


def _derive(secret: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(secret)
