"""Password hashing (argon2id, rehash on new parameters) and the password policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from data_access import passwords
from data_access.passwords import (
    common_passwords,
    hash_password,
    needs_rehash,
    password_problems,
    spend_verification_time,
    verify_password,
)

GOOD = "korrekt hest batteri stift"


@pytest.mark.parametrize(
    ("password", "username", "problems"),
    [
        (GOOD, "ola", []),
        ("Tolv tegn er nok", "kari", []),
        ("elleve tgn", "kari", ["too_short"]),
        ("", "kari", ["too_short"]),
        ("x" * 12, "kari", []),
        ("x" * 128, "kari", []),
        ("x" * 129, "kari", ["too_long"]),
        ("ola.nordmann", "ola.nordmann", ["same_as_username"]),
        ("OLA.NORDMANN", "ola.nordmann", ["same_as_username"]),
        ("mitt ola.nordmann passord", "ola.nordmann", ["same_as_username"]),
        ("ola", "ola", ["too_short", "same_as_username"]),
        ("password", "kari", ["too_short", "common"]),
        ("PassWord", "kari", ["too_short", "common"]),
        ("qwerty123456", "kari", ["common"]),
        ("QWERTY123456", "kari", ["common"]),
        ("1q2w3e4r5t6y", "kari", ["common"]),
        ("qwerty123456", "qwerty", ["same_as_username", "common"]),
        # NFKC: full-width letters count as the letters they look like.
        ("ｑｗｅｒｔｙ１２３４５６", "kari", ["common"]),
        ("ærlig øl på åsen", "kari", []),
    ],
)
def test_password_policy(password: str, username: str, problems: list[str]) -> None:
    assert password_problems(password, username) == problems


def test_length_counts_characters_not_bytes() -> None:
    assert password_problems("æøåæøåæøåæøå", "kari") == []
    assert password_problems("æøåæøåæøåæø", "kari") == ["too_short"]


def test_an_empty_username_matches_nothing() -> None:
    assert password_problems(GOOD, "") == []


def test_the_common_list_is_loaded_and_substantial() -> None:
    common = common_passwords()
    assert len(common) > 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common
    assert all(entry == entry.casefold() and entry for entry in common)
    assert not any(entry.startswith("# ") for entry in common)
    header = passwords.COMMON_PASSWORDS_PATH.read_text(encoding="utf-8").splitlines()[:12]
    assert any("MIT" in line for line in header) and any("zxcvbn" in line for line in header)


def test_hash_is_argon2id_with_the_module_parameters() -> None:
    hashed = hash_password(GOOD)
    assert hashed.startswith("$argon2id$")
    parameters = extract_parameters(hashed)
    assert parameters.type is Type.ID
    assert parameters.time_cost == passwords.TIME_COST
    assert parameters.memory_cost == passwords.MEMORY_COST_KIB
    assert parameters.parallelism == passwords.PARALLELISM
    assert GOOD not in hashed
    assert hash_password(GOOD) != hashed  # salted


@pytest.mark.parametrize(
    ("candidate", "matches"),
    [
        (GOOD, True),
        (GOOD.upper(), False),
        (GOOD + " ", False),
        ("", False),
    ],
)
def test_verify(candidate: str, matches: bool) -> None:
    assert verify_password(hash_password(GOOD), candidate) is matches


def test_verify_normalises_unicode() -> None:
    composed, decomposed = "blåbærsyltetøy\u00e5", "blåbærsyltetøya\u030a"
    assert verify_password(hash_password(composed), decomposed)


@pytest.mark.parametrize("damaged", ["", "not a hash", "$argon2id$v=19$m=1,t=1,p=1$xx$yy"])
def test_verify_refuses_damaged_hashes_without_raising(damaged: str) -> None:
    assert verify_password(damaged, GOOD) is False


def test_a_current_hash_needs_no_rehash() -> None:
    assert needs_rehash(hash_password(GOOD)) is False


@pytest.mark.parametrize(
    "older",
    [
        {"time_cost": 1},
        {"memory_cost": 8 * 1024},
        {"parallelism": 2},
        {"type": Type.I},
    ],
)
def test_hashes_made_with_other_parameters_need_rehash(older: dict[str, object]) -> None:
    settings: dict[str, object] = {
        "time_cost": passwords.TIME_COST,
        "memory_cost": passwords.MEMORY_COST_KIB,
        "parallelism": passwords.PARALLELISM,
        "type": Type.ID,
    } | older
    old_hash = PasswordHasher(**settings).hash(GOOD)  # type: ignore[arg-type]
    assert verify_password(old_hash, GOOD)  # still lets the user in ...
    assert needs_rehash(old_hash)  # ... and asks for a new hash


def test_a_foreign_hash_needs_rehash() -> None:
    assert needs_rehash("$2b$12$abcdefghijklmnopqrstuv")


def test_spending_verification_time_verifies_nothing() -> None:
    spend_verification_time(GOOD)
    spend_verification_time("")
