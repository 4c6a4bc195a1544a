"""Passwords: argon2id hashes and the policy a new password must meet.

Hashing follows OWASP's Password Storage Cheat Sheet for argon2id (19 MiB of memory, two
passes, one lane): costly enough that a stolen table is slow to attack, cheap enough that a
two-core server with several workers answers a login in well under a second. The parameters
live in the hash itself, so raising them later does not lock anyone out: `needs_rehash`
tells the login to store a fresh hash while it has the password in hand.

The policy is issue 3's: at least 12 characters, not the user name, not a common password
(the list shipped in `common_passwords.txt`), and at most 128 characters so that nobody can
make the server hash a megabyte. Passwords are NFKC-normalised before hashing and counting
(NIST SP 800-63B), so the same password typed on two keyboards that compose "å"
differently is still the same password.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Final, Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TIME_COST: Final = 2
MEMORY_COST_KIB: Final = 19 * 1024
PARALLELISM: Final = 1
HASH_LENGTH: Final = 32
SALT_LENGTH: Final = 16

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 128
COMMON_PASSWORDS_PATH: Final = Path(__file__).resolve().parent / "common_passwords.txt"

PasswordProblem = Literal["too_short", "too_long", "same_as_username", "common"]

# Stateless once built (parameters only), so sharing one between threads and requests is safe.
_HASHER: Final = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_LENGTH,
    salt_len=SALT_LENGTH,
    type=Type.ID,
)


def normalise(password: str) -> str:
    """The form that is hashed and measured: NFKC, so equal-looking input compares equal."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string with salt and parameters) for storing in `users`."""
    return _HASHER.hash(normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; a damaged or foreign hash is simply False."""
    try:
        return _HASHER.verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (or is not ours at all)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def spend_verification_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown user name takes as long as a known one.

    Without it a login for a name that does not exist would answer at once, and the time
    alone would tell an attacker which names are real.
    """
    verify_password(_dummy_hash(), password)


@cache
def _dummy_hash() -> str:
    # Made once per process with today's parameters, so its cost matches a real hash.
    return hash_password("not a password anyone has: the hash of unknown users")


def password_problems(password: str, username: str) -> list[PasswordProblem]:
    """What is wrong with `password` as a new password for `username`; empty when it is good.

    The codes are stable (pages translate them): `too_short` below `MIN_LENGTH` characters,
    `too_long` above `MAX_LENGTH`, `same_as_username` when the user name appears in it (case
    ignored), `common` when it is in the shipped list (case ignored).
    """
    normalised = normalise(password)
    folded = normalised.casefold()
    name = normalise(username).strip().casefold()
    problems: list[PasswordProblem] = []
    if len(normalised) < MIN_LENGTH:
        problems.append("too_short")
    if len(normalised) > MAX_LENGTH:
        problems.append("too_long")
    if name and name in folded:
        problems.append("same_as_username")
    if folded in common_passwords():
        problems.append("common")
    return problems


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, case-folded; read once per process (it never changes while running).

    A line that is exactly "#" or starts with "# " is a comment (the header naming the
    source and its licence); every other non-empty line is a password.
    """
    lines = COMMON_PASSWORDS_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(
        normalise(line).casefold()
        for line in lines
        if line and line != "#" and not line.startswith("# ")
    )
