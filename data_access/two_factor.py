"""The second factor of a login: TOTP from an authenticator app, and one-time recovery codes.

Issue 3, point 2: every role that may see patient-level data logs in with a code from an
authenticator app (RFC 6238: 30-second steps, 6 digits, HMAC-SHA-1, because that is what
Google Authenticator, Microsoft Authenticator, FreeOTP and the rest all support). The login
views call these functions; nothing here knows Flask.

What these functions promise:

- Enrolment is two steps. `begin_enrolment` makes a secret, its otpauth URI and a QR code
  and stores nothing, so an abandoned enrolment leaves no trace. `confirm_enrolment` stores
  the secret only once the user proves the app has it by typing a valid code.
- The secret is stored encrypted (AES-256-GCM, the scheme `NationalIdCipher` uses for
  national ids), bound to its user so a ciphertext copied to another user's row does not
  decrypt; a stolen database alone does not give anyone's codes.
- A code is accepted one step either side of the server's clock (valid_window=1), and
  never twice: the step that matched is stored and only later steps are accepted after it
  (RFC 6238 section 5.2), with an atomic conditional update so that two requests racing
  with the same code cannot both win.
- Recovery codes are shown once and stored as argon2id hashes; each works once.
- Every failure is audited (`totp.failure`), as are enrolment, use of a recovery code and
  an administrator's reset.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

import pyotp
import segno
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select, update

from data_access import audit
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import RecoveryCode, User
from data_access.patient_identity import KEY_BYTES

DIGITS: Final = 6
STEP_SECONDS: Final = 30
VALID_WINDOW: Final = 1
RECOVERY_CODE_COUNT: Final = 10
# Lower-case letters and digits without the look-alikes 0/o, 1/l/i: 31 symbols, so ten of
# them carry 10 * log2(31) ≈ 49.5 bits.
RECOVERY_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH: Final = 10
_SECRET_MIN_BYTES: Final = 16  # RFC 4226 asks for at least 128 bits of shared secret
_CODE: Final = re.compile(r"[0-9]{6}")

# Recovery codes are random and high-entropy, so they do not need a password-strength
# hash; but they are not keyed either (`use_recovery_code` has no server key), and at about
# 50 bits a salted SHA-256 falls to one GPU in about a day per code. Argon2id at 8 MiB and
# two passes costs about 8 ms a hash here, and makes the same search take millennia.
_RECOVERY_HASHER: Final = PasswordHasher(
    time_cost=2, memory_cost=8 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

_SECRET_FORMAT: Final = b"\x01"
_NONCE_BYTES: Final = 12

TwoFactorProblem = Literal["wrong_code", "invalid_secret", "already_enrolled", "unknown_user"]


class TwoFactorError(ValueError):
    """An enrolment or reset that cannot go ahead; `code` says why, for the view to translate."""

    def __init__(self, code: TwoFactorProblem, message: str) -> None:
        super().__init__(message)
        self.code: TwoFactorProblem = code


class SecretDecryptionError(RuntimeError):
    """A stored TOTP secret cannot be decrypted: the key is wrong or the row was altered.

    This is a fault of the installation, not a wrong code, so it is raised, never
    turned into a refused login that would hide the misconfiguration.
    """


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret (for typing in), its URI and a QR code.

    All three are left out of `repr` (the QR code encodes the secret), so a logged object
    does not leak it.
    """

    secret: str = field(repr=False)
    uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


def begin_enrolment(username: str, issuer: str, *, title: str | None = None) -> Enrolment:
    """A new random secret with its otpauth URI and an inline SVG QR code; stores nothing.

    `title` is the QR code's accessible name (a translated text from the view); the SVG also
    carries `role="img"` so screen readers announce it as one image.
    """
    secret = pyotp.random_base32()  # 32 characters: 160 bits, as RFC 4226 recommends
    return enrolment_for_secret(username, issuer, secret, title=title)


def enrolment_for_secret(
    username: str, issuer: str, secret: str, *, title: str | None = None
) -> Enrolment:
    """The same page content for a secret already handed out (shown again after a wrong code).

    Raises `TwoFactorError("invalid_secret")` for a secret that is not base32 of 128 bits
    or more; stores nothing.
    """
    secret = _normalise_secret(secret)
    uri = _totp(secret).provisioning_uri(name=username, issuer_name=issuer)
    label = title if title is not None else f"QR code for two-factor login to {issuer}"
    svg = segno.make(uri, error="m").svg_inline(scale=4, title=label)
    return Enrolment(secret=secret, uri=uri, qr_svg=svg.replace("<svg ", '<svg role="img" ', 1))


def confirm_enrolment(
    database: Database,
    actor: Actor,
    user_id: int,
    secret: str,
    code: str,
    secret_key: bytes,
    now: datetime,
    *,
    replace: bool = False,
) -> list[str]:
    """Turn on two-factor login once `code` proves the app holds `secret`; return recovery codes.

    The plain recovery codes are returned this once and never again. The step of `code` is
    stored as used, so the code typed at enrolment cannot also be used to log in. A user who
    already has two-factor login is refused unless `replace` is true (an enrolment while
    logged in with both factors), so a half-logged-in session cannot swap the authenticator.
    """
    _check_aware(now)
    cipher = _SecretCipher(secret_key)
    normalised_secret = _normalise_secret(secret)
    step = _matching_step(normalised_secret, code, now)
    if step is None:
        _record_failure(database, actor, user_id, "wrong_code", stage="enrolment")
        raise TwoFactorError("wrong_code", "the code does not match the new secret")
    plain_codes = _new_recovery_codes()
    hashes = [_RECOVERY_HASHER.hash(_normalise_recovery_code(c)) for c in plain_codes]
    with database.transaction() as session:
        # Writing first takes SQLite's write lock before the read; a refusal rolls it back.
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        user = session.get(User, user_id)
        if user is None:
            raise TwoFactorError("unknown_user", f"there is no user with id {user_id}")
        if user.totp_secret_encrypted is not None and not replace:
            raise TwoFactorError("already_enrolled", "two-factor login is already enabled")
        replaced = user.totp_secret_encrypted is not None
        user.totp_secret_encrypted = cipher.encrypt(normalised_secret, user_id)
        user.totp_enabled_at = now
        user.totp_last_step = step
        session.add_all(RecoveryCode(user_id=user_id, code_hash=h, created_at=now) for h in hashes)
        audit.record(
            session,
            "totp.enrol",
            actor,
            object_type="user",
            object_id=user_id,
            details={"replaced": replaced, "recovery_codes": len(hashes)},
        )
    return plain_codes


def verify_totp(
    database: Database, actor: Actor, user_id: int, code: str, secret_key: bytes, now: datetime
) -> bool:
    """True when `code` is the user's current code (±1 step) and its step was not used before.

    Spaces are ignored (apps show "123 456"). A refusal is audited as `totp.failure` with
    the reason: not enrolled, wrong code or replay.
    """
    _check_aware(now)
    cipher = _SecretCipher(secret_key)
    with database.reading() as session:
        user = session.get(User, user_id)
        stored = user.totp_secret_encrypted if user is not None else None
        last_step = user.totp_last_step if user is not None else None
    if stored is None:
        _record_failure(database, actor, user_id, "not_enrolled")
        return False
    secret = cipher.decrypt(stored, user_id)
    step = _matching_step(secret, code, now, after=last_step)
    if step is None:
        replayed = _matching_step(secret, code, now) is not None
        _record_failure(database, actor, user_id, "replay" if replayed else "wrong_code")
        return False
    with database.transaction() as session:
        # Only one request can move the step forward; a racing twin finds it already moved.
        won = session.scalars(
            update(User)
            .where(
                User.id == user_id,
                User.totp_secret_encrypted == stored,
                (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .returning(User.id)
            .execution_options(synchronize_session=False)
        ).first()
    if won is None:
        _record_failure(database, actor, user_id, "replay")
        return False
    return True


def use_recovery_code(
    database: Database, actor: Actor, user_id: int, code: str, now: datetime
) -> bool:
    """True, once, for each of the user's recovery codes; case, hyphens and spaces ignored.

    A used code is marked with the time it was used (kept, not deleted, for the record) and
    `recovery_code.used` is audited with how many remain; a wrong code is a `totp.failure`.
    """
    _check_aware(now)
    candidate = _normalise_recovery_code(code)
    reason = "wrong_code"
    if len(candidate) == _RECOVERY_LENGTH and set(candidate) <= set(RECOVERY_ALPHABET):
        with database.reading() as session:
            unused = session.execute(
                select(RecoveryCode.id, RecoveryCode.code_hash).where(
                    RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                )
            ).all()
        for code_id, code_hash in unused:
            if not _recovery_code_matches(code_hash, candidate):
                continue
            with database.transaction() as session:
                won = session.scalars(
                    update(RecoveryCode)
                    .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
                    .values(used_at=now)
                    .returning(RecoveryCode.id)
                    .execution_options(synchronize_session=False)
                ).first()
                if won is not None:
                    audit.record(
                        session,
                        "recovery_code.used",
                        actor,
                        object_type="user",
                        object_id=user_id,
                        details={"remaining": len(unused) - 1},
                    )
                    return True
            reason = "replay"  # a racing request used the same code first
            break
    _record_failure(database, actor, user_id, reason, method="recovery_code")
    return False


def reset_two_factor(database: Database, actor: Actor, user_id: int) -> None:
    """Turn two-factor login off for a user (an administrator's action) and drop their codes.

    The user enrols again at the next login. Sessions are left alone: ending them is the
    caller's decision (`user_sessions.end_user_sessions`).
    """
    with database.transaction() as session:
        # Writing first takes SQLite's write lock before the read; a refusal rolls it back.
        removed = session.scalars(
            delete(RecoveryCode)
            .where(RecoveryCode.user_id == user_id)
            .returning(RecoveryCode.id)
            .execution_options(synchronize_session=False)
        ).all()
        user = session.get(User, user_id)
        if user is None:
            raise TwoFactorError("unknown_user", f"there is no user with id {user_id}")
        was_enrolled = user.totp_secret_encrypted is not None
        user.totp_secret_encrypted = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        audit.record(
            session,
            "totp.reset",
            actor,
            object_type="user",
            object_id=user_id,
            details={"was_enrolled": was_enrolled, "recovery_codes_removed": len(removed)},
        )


def has_two_factor(database: Database, user_id: int) -> bool:
    """Whether the user has confirmed an authenticator app (an unknown user has not)."""
    with database.reading() as session:
        stored = session.scalar(select(User.totp_secret_encrypted).where(User.id == user_id))
    return stored is not None


def remaining_recovery_codes(database: Database, user_id: int) -> int:
    """How many unused recovery codes the user has (the page warns when few are left)."""
    with database.reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
    return int(count or 0)


class _SecretCipher:
    """AES-256-GCM for TOTP secrets, in the token layout `NationalIdCipher` uses.

    `NationalIdCipher` itself accepts only 11-digit national ids, so the same scheme is
    applied here. The associated data names the purpose and the user, so a national-id
    token cannot be read as a secret, nor one user's secret copied to another user.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError(f"secret_key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def _context(user_id: int) -> bytes:
        return _SECRET_FORMAT + b"totp-secret:" + str(user_id).encode("ascii")

    def encrypt(self, secret: str, user_id: int) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, secret.encode("ascii"), self._context(user_id))
        return _SECRET_FORMAT + nonce + ciphertext

    def decrypt(self, token: bytes, user_id: int) -> str:
        token = bytes(token)
        if token[:1] != _SECRET_FORMAT:
            raise SecretDecryptionError("the stored TOTP secret has an unknown format")
        nonce, ciphertext = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, ciphertext, self._context(user_id))
        except InvalidTag:
            raise SecretDecryptionError(
                "the stored TOTP secret cannot be decrypted: wrong key, or the row was altered"
            ) from None
        return plain.decode("ascii")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)  # SHA-1 by default


def _matching_step(
    secret: str, code: str, now: datetime, *, after: int | None = None
) -> int | None:
    """The time step (±VALID_WINDOW around `now`) whose code is `code` and is later than `after`."""
    typed = "".join(code.split())
    if not _CODE.fullmatch(typed):
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None


def _normalise_secret(secret: str) -> str:
    """The base32 secret in upper case without spaces; refused if too short or not base32."""
    cleaned = "".join(secret.split()).upper().rstrip("=")
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise TwoFactorError("invalid_secret", "the secret is not base32 text") from None
    if len(raw) < _SECRET_MIN_BYTES:
        raise TwoFactorError("invalid_secret", "the secret is shorter than 128 bits")
    return cleaned


def _new_recovery_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH)))
    return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in sorted(codes)]


def _normalise_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_code_matches(code_hash: str, candidate: str) -> bool:
    try:
        return _RECOVERY_HASHER.verify(code_hash, candidate)
    except (VerificationError, InvalidHashError):
        return False


def _record_failure(
    database: Database,
    actor: Actor,
    user_id: int,
    reason: str,
    *,
    method: str = "totp",
    stage: str = "login",
) -> None:
    audit.record_event(
        database,
        "totp.failure",
        actor,
        object_type="user",
        object_id=user_id,
        details={"reason": reason, "method": method, "stage": stage},
    )


def _check_aware(now: datetime) -> None:
    # pyotp reads a naive datetime as local time, which would shift every step.
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")
