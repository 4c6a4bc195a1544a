"""Protecting patients' national ids: encrypted at rest, linked by a keyed pseudonym.

DESIGN.md: the national id "is validated at entry, stored encrypted, and linked by a keyed
hash (pseudonym)". Two keys, two jobs:

- `NationalIdCipher` encrypts the id with AES-256-GCM so the database alone never reveals
  it; only code holding the key (showing a record to someone allowed to see it) decrypts.
  GCM authenticates too, so a token altered in the database, or read with the wrong key,
  fails loudly instead of decrypting to another person's id.
- `pseudonym` is HMAC-SHA256 of the 11 digits under a separate key. The same person gets
  the same pseudonym in every registration, so episodes are linked and analysts get
  pseudonymised extracts without anything being decrypted; without the key the pseudonym
  cannot be recomputed from a guessed id (there are only some hundred million plausible
  ids, so a plain hash could be reversed by trying them all).

Both take the canonical id: exactly 11 ASCII digits, as `entry.national_id.parse_national_id`
returns in `.digits`. Anything else is refused rather than normalised here, so one person
can never end up with two pseudonyms because two doors wrote the id differently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Final

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES: Final = 32
_TOKEN_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_CANONICAL_ID: Final = re.compile(r"[0-9]{11}")


class DecryptionError(ValueError):
    """A stored token cannot be decrypted: a wrong key, another purpose, or a changed token."""


class NationalIdDecryptionError(DecryptionError):
    """A stored token cannot be decrypted: a wrong key, or the token was changed or damaged."""


def generate_key() -> bytes:
    """A new random 32-byte key, for the cipher or the pseudonym (use a separate one for each)."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """`key` as URL-safe base64 text, the form `decode_key` reads (settings, environment)."""
    _check_key(key)
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """A 32-byte key from URL-safe base64 text; the trailing "=" may be left off.

    Raises `ValueError` that says what is wrong, never repeating the text (it is a secret).
    """
    cleaned = text.strip()
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        key = base64.b64decode(cleaned, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not URL-safe base64 text") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


class TextCipher:
    """AES-256-GCM for any personal text kept at rest (a PROM recipient's e-mail or phone).

    The token layout is the one described under `NationalIdCipher`. The associated data is
    the version byte followed by `context`, which names the purpose and the row, so a token
    copied to another column or row, or read for another purpose, fails to decrypt instead
    of yielding someone else's text. An empty context gives exactly the national-id tokens.
    """

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key=<hidden>)"

    def encrypt(self, text: str, context: bytes = b"") -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, text.encode("utf-8"), _TOKEN_VERSION + context)
        return _TOKEN_VERSION + nonce + ciphertext

    def decrypt(self, token: bytes, context: bytes = b"") -> str:
        """The text in a token; `DecryptionError` if it is not this key's token for `context`."""
        if not isinstance(token, bytes | bytearray | memoryview):
            raise TypeError(f"token must be bytes, not {type(token).__name__}")
        token = bytes(token)
        if len(token) < 1 + _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("the token is too short to hold encrypted text")
        if token[:1] != _TOKEN_VERSION:
            raise DecryptionError(f"the token has unknown format version {token[0]}")
        nonce, ciphertext = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, _TOKEN_VERSION + context)
        except InvalidTag:
            raise DecryptionError(
                "the token cannot be decrypted: the key is wrong or the token was altered"
            ) from None
        return plaintext.decode("utf-8", errors="replace")


class NationalIdCipher:
    """Encrypts national ids for storage and decrypts them for those allowed to see them.

    A token is one version byte, a random 12-byte nonce and the AES-GCM ciphertext with its
    16-byte tag. The version byte is also authenticated, and lets a later format or key
    scheme be told apart from this one. Encrypting the same id twice gives different tokens,
    so equal tokens never reveal equal ids; linking uses `pseudonym` instead.
    """

    def __init__(self, key: bytes) -> None:
        self._text = TextCipher(key)

    def __repr__(self) -> str:
        return "NationalIdCipher(key=<hidden>)"

    def encrypt(self, national_id: str) -> bytes:
        """The token to store for a canonical national id (11 digits)."""
        _check_canonical(national_id)
        return self._text.encrypt(national_id)

    def decrypt(self, token: bytes) -> str:
        """The national id in a token; `NationalIdDecryptionError` if it is not this key's token."""
        try:
            national_id = self._text.decrypt(token)
        except DecryptionError as error:
            raise NationalIdDecryptionError(str(error)) from None
        if not _CANONICAL_ID.fullmatch(national_id):
            raise NationalIdDecryptionError(
                "the token decrypts to something that is not a national id"
            )
        return national_id


def pseudonym(national_id: str, key: bytes) -> str:
    """The linkage key of a canonical national id: HMAC-SHA256 under `key`, 64 hex digits."""
    _check_key(key)
    _check_canonical(national_id)
    return hmac.new(key, national_id.encode("ascii"), hashlib.sha256).hexdigest()


def pseudonyms(national_ids: pl.Series, key: bytes) -> pl.Series:
    """`pseudonym` of every id in a column (nulls stay null), for imports and the demo data.

    HMAC has no columnar form in polars, so this is the one loop over rows: it copies a
    keyed HMAC state per value (the hashing runs in C), about a microsecond a row.
    """
    _check_key(key)
    canonical = national_ids.cast(pl.String).str.contains(r"^[0-9]{11}$")
    wrong = int((~canonical).sum())
    if wrong:
        raise ValueError(f"{wrong} values are not national ids of exactly 11 digits")
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def one(national_id: str | None) -> str | None:
        if national_id is None:
            return None
        state = keyed.copy()
        state.update(national_id.encode("ascii"))
        return state.hexdigest()

    values = [one(national_id) for national_id in national_ids.cast(pl.String).to_list()]
    return pl.Series(national_ids.name, values, dtype=pl.String)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"the key must be bytes, not {type(key).__name__}")
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key must be {KEY_BYTES} bytes, not {len(key)}")


def _check_canonical(national_id: str) -> None:
    if not isinstance(national_id, str) or not _CANONICAL_ID.fullmatch(national_id):
        raise ValueError("a national id must be given as exactly 11 digits (no spaces)")
