"""Protecting national ids: the AES-GCM cipher, the HMAC pseudonym and key handling.

Ids here are synthetic (month + 80), so no real person's number is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import polars as pl
import pytest

from data_access.patient_identity import (
    KEY_BYTES,
    NationalIdCipher,
    NationalIdDecryptionError,
    decode_key,
    encode_key,
    generate_key,
    pseudonym,
    pseudonyms,
)

IDS = ["15838012334", "55838012409", "01922070381", "01922070462"]
FIXED_KEY = bytes(range(32))
TOKEN_LENGTH = 1 + 12 + 11 + 16  # version, nonce, ciphertext, tag


@pytest.fixture
def cipher() -> NationalIdCipher:
    return NationalIdCipher(generate_key())


# --- Cipher ----------------------------------------------------------------------------


@pytest.mark.parametrize("national_id", IDS)
def test_encrypt_then_decrypt_gives_the_id_back(cipher: NationalIdCipher, national_id: str) -> None:
    token = cipher.encrypt(national_id)
    assert isinstance(token, bytes)
    assert cipher.decrypt(token) == national_id


def test_token_is_version_nonce_and_ciphertext(cipher: NationalIdCipher) -> None:
    token = cipher.encrypt(IDS[0])
    assert len(token) == TOKEN_LENGTH
    assert token[0] == 1
    assert IDS[0].encode() not in token


def test_same_id_encrypts_to_a_new_token_and_nonce_each_time(cipher: NationalIdCipher) -> None:
    tokens = [cipher.encrypt(IDS[0]) for _ in range(200)]
    assert len(set(tokens)) == len(tokens)
    assert len({token[1:13] for token in tokens}) == len(tokens)
    assert {cipher.decrypt(token) for token in tokens} == {IDS[0]}


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_decrypt_accepts_what_database_drivers_return(cipher: NationalIdCipher, kind: type) -> None:
    assert cipher.decrypt(kind(cipher.encrypt(IDS[1]))) == IDS[1]


def test_wrong_key_is_rejected(cipher: NationalIdCipher) -> None:
    token = cipher.encrypt(IDS[0])
    with pytest.raises(NationalIdDecryptionError, match="key is wrong or the token was altered"):
        NationalIdCipher(generate_key()).decrypt(token)


@pytest.mark.parametrize("position", [0, 1, 12, 13, 23, 24, TOKEN_LENGTH - 1])
def test_tampered_token_is_rejected(cipher: NationalIdCipher, position: int) -> None:
    """Version byte, nonce, ciphertext and tag: a change anywhere is detected."""
    token = bytearray(cipher.encrypt(IDS[0]))
    token[position] ^= 0x01
    with pytest.raises(NationalIdDecryptionError):
        cipher.decrypt(bytes(token))


@pytest.mark.parametrize(
    "token", [b"", b"\x01", b"\x01" + bytes(27), b"\x02" + bytes(TOKEN_LENGTH - 1)]
)
def test_short_or_unknown_tokens_are_rejected(cipher: NationalIdCipher, token: bytes) -> None:
    with pytest.raises(NationalIdDecryptionError):
        cipher.decrypt(token)


def test_truncated_or_extended_token_is_rejected(cipher: NationalIdCipher) -> None:
    token = cipher.encrypt(IDS[0])
    for changed in (token[:-1], token + b"\x00"):
        with pytest.raises(NationalIdDecryptionError):
            cipher.decrypt(changed)


def test_decrypt_refuses_text(cipher: NationalIdCipher) -> None:
    with pytest.raises(TypeError):
        cipher.decrypt("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["158380 12334", " 15838012334", "1583801233", "1583801233x", ""])
def test_only_canonical_ids_are_encrypted(cipher: NationalIdCipher, value: str) -> None:
    with pytest.raises(ValueError, match="11 digits"):
        cipher.encrypt(value)


@pytest.mark.parametrize(
    ("key", "error"), [(bytes(16), ValueError), (bytes(33), ValueError), ("k" * 32, TypeError)]
)
def test_cipher_needs_a_32_byte_key(key: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        NationalIdCipher(key)


def test_cipher_does_not_show_its_key() -> None:
    assert FIXED_KEY.hex() not in repr(NationalIdCipher(FIXED_KEY))
    assert "hidden" in repr(NationalIdCipher(FIXED_KEY))


# --- Pseudonym -------------------------------------------------------------------------


def test_pseudonym_never_changes() -> None:
    """A changed pseudonym scheme would break every stored link: this value is fixed."""
    assert pseudonym("15838012334", FIXED_KEY) == (
        "d697f8f2a22f1f2aaf9e7bfc116655ee84486fa586dfaba9b1bb84a9d97a6086"
    )


@pytest.mark.parametrize("national_id", IDS)
def test_pseudonym_is_hmac_sha256_hex_of_the_digits(national_id: str) -> None:
    key = generate_key()
    expected = hmac.new(key, national_id.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(national_id, key) == expected
    assert pseudonym(national_id, key) == pseudonym(national_id, key)


def test_pseudonym_depends_on_key_and_id() -> None:
    key, other_key = generate_key(), generate_key()
    assert pseudonym(IDS[0], key) != pseudonym(IDS[0], other_key)
    assert len({pseudonym(national_id, key) for national_id in IDS}) == len(IDS)


@pytest.mark.parametrize("value", ["158380 12334", "1583801233", "15838O12334"])
def test_pseudonym_refuses_non_canonical_ids(value: str) -> None:
    with pytest.raises(ValueError, match="11 digits"):
        pseudonym(value, FIXED_KEY)


def test_pseudonym_needs_a_32_byte_key() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        pseudonym(IDS[0], b"short")


def test_pseudonyms_of_a_column_match_one_by_one() -> None:
    column = pl.Series("national_id", [*IDS, None, IDS[0]])
    result = pseudonyms(column, FIXED_KEY)
    assert result.name == "national_id"
    assert result.dtype == pl.String
    assert result.to_list() == [
        *(pseudonym(national_id, FIXED_KEY) for national_id in IDS),
        None,
        pseudonym(IDS[0], FIXED_KEY),
    ]


def test_pseudonyms_of_many_rows() -> None:
    column = pl.Series("national_id", [f"{i:011d}" for i in range(100_000)])
    result = pseudonyms(column, FIXED_KEY)
    assert result.n_unique() == column.len()
    assert result[12_345] == pseudonym(column[12_345], FIXED_KEY)


def test_pseudonyms_of_an_empty_column() -> None:
    assert pseudonyms(pl.Series("x", [], dtype=pl.String), FIXED_KEY).len() == 0


def test_pseudonyms_refuse_a_column_with_non_ids() -> None:
    with pytest.raises(ValueError, match="2 values"):
        pseudonyms(pl.Series([IDS[0], "158380 12334", "x"]), FIXED_KEY)


# --- Keys ------------------------------------------------------------------------------


def test_generated_keys_are_32_random_bytes() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(isinstance(key, bytes) and len(key) == KEY_BYTES for key in keys)


@pytest.mark.parametrize(
    "text",
    [
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  # padding left off
        "  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # as read from a file
    ],
)
def test_decode_key_reads_url_safe_base64(text: str) -> None:
    assert decode_key(text) == FIXED_KEY


def test_encode_and_decode_key_round_trip() -> None:
    key = generate_key()
    text = encode_key(key)
    assert text == base64.urlsafe_b64encode(key).decode()
    assert decode_key(text) == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (base64.urlsafe_b64encode(bytes(16)).decode(), "32 bytes, not 16"),
        (base64.urlsafe_b64encode(bytes(48)).decode(), "32 bytes, not 48"),
        ("", "32 bytes, not 0"),
        ("not a key at all!", "not URL-safe base64"),
        ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8*", "not URL-safe base64"),
    ],
)
def test_decode_key_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        decode_key(text)
    if text:
        assert text not in str(caught.value)
