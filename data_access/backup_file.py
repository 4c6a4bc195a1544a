"""The backup file: a gzip-compressed payload sealed with AES-256-GCM in chunks, then a manifest.

A backup holds every patient's data, so it is never written in the clear, and a restore
must be able to tell a damaged or substituted file from a good one before it writes
anything. Layout (integers big-endian):

    header   MAGIC (16 bytes) | format version (1) | chunk size (4) | salt (16) | key check (16)
    records  length (4) | AES-GCM ciphertext with its 16-byte tag     ... repeated
    the last record holds the manifest; every record before it holds payload

The backup key (`BACKUP_KEY`, 32 bytes) never encrypts directly: HKDF-SHA256 with the
file's random salt derives the file's own AES key and a key-check value, so nonces never
repeat across files and a wrong key is named as such instead of as damage. Record `i` is
sealed under the nonce `i` (11 bytes) followed by 1 for the last record and 0 otherwise
(the STREAM construction), with the header as associated data: reordering, dropping,
truncating or appending records, or editing the header, fails authentication. The
manifest's `payload_sha256` is the SHA-256 of every byte before the manifest record.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC: Final = b"KVALREG-BACKUP\r\n"
FORMAT_VERSION: Final = 1
CHUNK_BYTES: Final = 1 << 20
_HEADER = struct.Struct(">16sBI16s16s")
_LENGTH = struct.Struct(">I")
_TAG_BYTES: Final = 16
_KDF_INFO: Final = b"kvalitetsregister backup file v1"
_GZIP_LEVEL: Final = 6
_GZIP_WBITS: Final = 31  # a gzip stream, so the decrypted payload is a plain .gz


class BackupFileError(ValueError):
    """A backup file cannot be opened; the message says why, for the operator."""


class NotABackup(BackupFileError):  # noqa: N818 - names what the file is, not a fault
    """The file does not start like a backup of this format."""


class WrongBackupKey(BackupFileError):  # noqa: N818
    """The key does not open this file (or the header that checks it was altered)."""


class DamagedBackup(BackupFileError):  # noqa: N818
    """The file fails authentication: changed, truncated or extended after it was written."""


@dataclass(frozen=True)
class Payload:
    """What sealing or opening the payload yields: its digest and size, as the manifest states."""

    sha256: str
    ciphertext_bytes: int


class SealedWriter:
    """Compresses and seals a payload stream into `handle`, then the manifest as the last record.

    Call `write` with the payload, `finish_payload` once for the digest the manifest needs,
    then `close` with the manifest.
    """

    def __init__(self, handle: BinaryIO, key: bytes, chunk_bytes: int = CHUNK_BYTES) -> None:
        salt = secrets.token_bytes(16)
        aes_key, check = _derive(key, salt)
        self._header = _HEADER.pack(MAGIC, FORMAT_VERSION, chunk_bytes, salt, check)
        self._aead = AESGCM(aes_key)
        self._handle = handle
        self._chunk_bytes = chunk_bytes
        self._pending = bytearray()
        self._compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        self._digest = hashlib.sha256()
        self._written = 0
        self._index = 0
        self._payload: Payload | None = None
        self._emit(self._header)

    def write(self, data: bytes) -> None:
        if self._payload is not None:
            raise RuntimeError("the payload is finished")
        self._pending += self._compressor.compress(data)
        self._seal_pending(at_least=self._chunk_bytes)

    def finish_payload(self) -> Payload:
        """Seal what is left of the payload; returns its digest for the manifest."""
        if self._payload is None:
            self._pending += self._compressor.flush()
            self._seal_pending(at_least=1)
            self._payload = Payload(self._digest.hexdigest(), self._written)
        return self._payload

    def close(self, manifest: bytes) -> None:
        """Seal the manifest as the last record; the file is complete after this."""
        if len(manifest) > self._chunk_bytes:
            raise ValueError("the manifest is larger than a record may be")
        self.finish_payload()
        self._seal(manifest, last=True)

    def _seal_pending(self, *, at_least: int) -> None:
        """Seal pending payload in records of at most a chunk while `at_least` bytes wait."""
        while len(self._pending) >= at_least:
            self._seal(bytes(self._pending[: self._chunk_bytes]), last=False)
            del self._pending[: self._chunk_bytes]

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        ciphertext = self._aead.encrypt(_nonce(self._index, last), plaintext, self._header)
        self._index += 1
        record = _LENGTH.pack(len(ciphertext)) + ciphertext
        if last:
            self._handle.write(record)
        else:
            self._emit(record)

    def _emit(self, data: bytes) -> None:
        self._handle.write(data)
        self._digest.update(data)
        self._written += len(data)


@dataclass(frozen=True)
class OpenedBackup:
    """An authenticated backup: its payload was written out, its manifest is returned as is."""

    manifest: bytes
    payload: Payload


def open_backup(path: Path, key: bytes, out: BinaryIO) -> OpenedBackup:
    """Authenticate every record of `path`, writing the decompressed payload to `out`.

    Raises `NotABackup`, `WrongBackupKey` or `DamagedBackup` before returning anything;
    whatever reached `out` by then must be thrown away by the caller.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        header = handle.read(_HEADER.size)
        chunk_bytes, salt, check = _parse_header(header, path.name)
        aes_key, expected_check = _derive(key, salt)
        if not secrets.compare_digest(check, expected_check):
            raise WrongBackupKey(
                f"{path.name}: BACKUP_KEY does not open this backup (it was made with another "
                "key, or its header was altered)"
            )
        opener = _Opener(AESGCM(aes_key), header)
        manifest: bytes | None = None
        for record, last in _records(handle, size, chunk_bytes, path.name):
            plaintext = opener.open(record, last, path.name)
            if last:
                manifest = plaintext
            else:
                out.write(opener.decompress(plaintext, path.name))
    if manifest is None:
        raise DamagedBackup(f"{path.name}: the file ends before its manifest")
    return OpenedBackup(manifest, opener.finish(out, path.name))


class _Opener:
    """Decrypts records in order and keeps the digest of the bytes before the manifest."""

    def __init__(self, aead: AESGCM, header: bytes) -> None:
        self._aead = aead
        self._header = header
        self._index = 0
        self._digest = hashlib.sha256(header)
        self._read = len(header)
        self._decompressor = zlib.decompressobj(_GZIP_WBITS)

    def open(self, record: bytes, last: bool, name: str) -> bytes:
        try:
            plaintext = self._aead.decrypt(_nonce(self._index, last), record, self._header)
        except InvalidTag:
            where = "its manifest" if last else f"record {self._index + 1}"
            raise DamagedBackup(
                f"{name}: {where} fails its authentication check: the file was changed, "
                "truncated or extended after it was written"
            ) from None
        self._index += 1
        if not last:
            framed = _LENGTH.pack(len(record)) + record
            self._digest.update(framed)
            self._read += len(framed)
        return plaintext

    def decompress(self, plaintext: bytes, name: str) -> bytes:
        try:
            return self._decompressor.decompress(plaintext)
        except zlib.error as error:
            raise DamagedBackup(f"{name}: the payload does not decompress ({error})") from None

    def finish(self, out: BinaryIO, name: str) -> Payload:
        out.write(self._decompressor.flush())
        if not self._decompressor.eof:
            raise DamagedBackup(f"{name}: the payload ends before its compressed stream does")
        return Payload(self._digest.hexdigest(), self._read)


def _parse_header(header: bytes, name: str) -> tuple[int, bytes, bytes]:
    """(chunk size, salt, key check) of a header of this format."""
    if len(header) < _HEADER.size or not header.startswith(MAGIC):
        raise NotABackup(f"{name}: not a backup made by `flask --app app backup`")
    _, version, chunk_bytes, salt, check = _HEADER.unpack(header)
    if version != FORMAT_VERSION:
        raise NotABackup(f"{name}: file format {version}; this version reads only {FORMAT_VERSION}")
    return chunk_bytes, salt, check


def _records(
    handle: BinaryIO, size: int, chunk_bytes: int, name: str
) -> Iterator[tuple[bytes, bool]]:
    """(ciphertext, is the last record) in file order; a length that overruns is damage."""
    position = handle.tell()
    while position < size:
        length_bytes = handle.read(_LENGTH.size)
        (length,) = _LENGTH.unpack(length_bytes) if len(length_bytes) == _LENGTH.size else (-1,)
        position += _LENGTH.size + length
        if length < _TAG_BYTES or length > chunk_bytes + _TAG_BYTES or position > size:
            raise DamagedBackup(f"{name}: a record's length is impossible: the file was damaged")
        yield handle.read(length), position == size


def _derive(key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """The file's AES-256 key and its 16-byte key check, from the backup key and the salt."""
    if len(key) != 32:
        raise ValueError("the backup key must be 32 bytes")
    material = HKDF(hashes.SHA256(), length=48, salt=salt, info=_KDF_INFO).derive(key)
    return material[:32], material[32:]


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
