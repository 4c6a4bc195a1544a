"""The sealed backup file: a round trip, and every kind of damage or wrong key refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from data_access.backup_file import (
    DamagedBackup,
    NotABackup,
    SealedWriter,
    WrongBackupKey,
    open_backup,
)

KEY = bytes(range(32))
CHUNK = 4096
PAYLOAD = os.urandom(3 * CHUNK) + b"compressible " * 2000  # several records
MANIFEST = b'{"rows": 42}'


def _write(path: Path, key: bytes = KEY, payload: bytes = PAYLOAD) -> str:
    with path.open("wb") as handle:
        writer = SealedWriter(handle, key, chunk_bytes=CHUNK)
        for start in range(0, len(payload), 1000):
            writer.write(payload[start : start + 1000])
        digest = writer.finish_payload().sha256
        writer.close(MANIFEST)
    return digest


def test_round_trip_gives_back_payload_manifest_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "b.backup"
    digest = _write(path)
    out = io.BytesIO()
    opened = open_backup(path, KEY, out)
    assert out.getvalue() == PAYLOAD
    assert opened.manifest == MANIFEST
    assert opened.payload.sha256 == digest
    # The digest covers every byte before the manifest record (16-byte tag + 4-byte length).
    manifest_record = 4 + len(MANIFEST) + 16
    before = path.read_bytes()[:-manifest_record]
    assert digest == hashlib.sha256(before).hexdigest()
    assert opened.payload.ciphertext_bytes == len(before)


def test_the_file_reveals_no_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "b.backup"
    _write(path, payload=b"Ola Nordmann 17055012345 " * 500)
    data = path.read_bytes()
    assert b"Nordmann" not in data and b"rows" not in data
    assert b"Nordmann" not in gzip.compress(data)  # nor is it a plain gzip stream


def test_an_empty_payload_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "b.backup"
    _write(path, payload=b"")
    out = io.BytesIO()
    assert open_backup(path, KEY, out).manifest == MANIFEST
    assert out.getvalue() == b""


def _flip(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        position = offset % len(data)
        return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]

    return change


# Header: 16 magic, 1 version, 4 chunk size, 16 salt, 16 key check = 53 bytes.
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], type[Exception]]] = {
    "magic": (_flip(3), NotABackup),
    "version": (_flip(16), NotABackup),
    "chunk size": (_flip(19), DamagedBackup),
    "salt": (_flip(30), WrongBackupKey),
    "key check": (_flip(50), WrongBackupKey),
    "first record length": (_flip(54), DamagedBackup),
    "first record": (_flip(200), DamagedBackup),
    "middle record": (_flip(CHUNK + 300), DamagedBackup),
    "manifest record": (_flip(-5), DamagedBackup),
    "truncated": (lambda data: data[:-1], DamagedBackup),
    "truncated at a record boundary": (lambda data: data[: 53 + 4 + CHUNK + 16], DamagedBackup),
    "extended": (lambda data: data + b"\x00", DamagedBackup),
    "header only": (lambda data: data[:53], DamagedBackup),
    "empty": (lambda data: b"", NotABackup),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damage_anywhere_is_refused(tmp_path: Path, damage: str) -> None:
    change, refusal = DAMAGE[damage]
    path = tmp_path / "b.backup"
    _write(path)
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(refusal, match=r"^b\.backup: "):
        open_backup(path, KEY, io.BytesIO())


def test_records_swapped_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.backup"
    _write(path, payload=os.urandom(2 * CHUNK + 10))  # incompressible: full records
    data = path.read_bytes()
    record = 4 + CHUNK + 16
    first, second = data[53 : 53 + record], data[53 + record : 53 + 2 * record]
    path.write_bytes(data[:53] + second + first + data[53 + 2 * record :])
    with pytest.raises(DamagedBackup, match="record 1 fails its authentication"):
        open_backup(path, KEY, io.BytesIO())


def test_a_wrong_key_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "b.backup"
    _write(path)
    with pytest.raises(WrongBackupKey, match="BACKUP_KEY does not open this backup"):
        open_backup(path, bytes(32), io.BytesIO())


def test_each_file_has_its_own_salt(tmp_path: Path) -> None:
    """Same key, same payload, different files: no nonce is ever reused under one AES key."""
    _write(tmp_path / "a.backup")
    _write(tmp_path / "b.backup")
    assert (tmp_path / "a.backup").read_bytes()[21:53] != (tmp_path / "b.backup").read_bytes()[
        21:53
    ]
