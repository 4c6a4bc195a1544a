"""Two-factor login data: TOTP enrolment and checks, replay, recovery codes and reset."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from sqlalchemy import select

from data_access.audit import Actor
from data_access.database import Database
from data_access.models import AuditEvent, RecoveryCode, User
from data_access.patient_identity import generate_key
from data_access.two_factor import (
    RECOVERY_ALPHABET,
    RECOVERY_CODE_COUNT,
    SecretDecryptionError,
    TwoFactorError,
    begin_enrolment,
    confirm_enrolment,
    enrolment_for_secret,
    has_two_factor,
    remaining_recovery_codes,
    reset_two_factor,
    use_recovery_code,
    verify_totp,
)

KEY = generate_key()
# 15 s into a 30 s step, so ±1 step is ±30 s and no test sits on a step boundary.
NOW = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
ISSUER = "Kvalitetsregister"
RECOVERY_FORMAT = re.compile(
    rf"[{RECOVERY_ALPHABET}]{{4}}-[{RECOVERY_ALPHABET}]{{4}}-[{RECOVERY_ALPHABET}]{{2}}"
)
ADMIN = Actor(user_id=None, username="admin", remote_addr="10.0.0.9")


def _add_user(database: Database, username: str = "kari") -> int:
    with database.transaction() as session:
        user = User(username=username, display_name=username.title())
        session.add(user)
        session.flush()
        return user.id


def _actor(user_id: int) -> Actor:
    return Actor(user_id=user_id, username="kari", remote_addr="192.0.2.7")


def _code(secret: str, now: datetime = NOW, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(now + timedelta(seconds=30 * steps))


def _enrolled(database: Database) -> tuple[int, str, list[str]]:
    """A user with two-factor login on: (user id, secret, recovery codes)."""
    user_id = _add_user(database)
    secret = begin_enrolment("kari", ISSUER).secret
    codes = confirm_enrolment(database, _actor(user_id), user_id, secret, _code(secret), KEY, NOW)
    return user_id, secret, codes


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def _other_code(secret: str, now: datetime = NOW) -> str:
    """A six-digit code valid in none of the steps around `now`."""
    valid = {_code(secret, now, steps) for steps in range(-3, 4)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


# --- enrolment --------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["kari", "ola.nordmann@helse.no", "bjørn æsøy"])
def test_begin_enrolment_is_pure_and_gives_uri_and_accessible_qr(username: str) -> None:
    enrolment = begin_enrolment(username, ISSUER, title="QR-kode for tofaktor")
    assert re.fullmatch(r"[A-Z2-7]{32}", enrolment.secret)
    uri = urlparse(enrolment.uri)
    query = parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/{ISSUER}:{username}"
    assert query["secret"] == [enrolment.secret]
    assert query["issuer"] == [ISSUER]
    assert enrolment.qr_svg.startswith('<svg role="img" ')
    assert "<title>QR-kode for tofaktor</title>" in enrolment.qr_svg
    assert enrolment.secret not in repr(enrolment)
    assert begin_enrolment(username, ISSUER).secret != enrolment.secret


def test_enrolment_can_be_shown_again_for_the_same_secret() -> None:
    first = begin_enrolment("kari", ISSUER)
    spaced = " ".join(first.secret[i : i + 4] for i in range(0, 32, 4)).lower()
    again = enrolment_for_secret("kari", ISSUER, spaced)
    assert (again.secret, again.uri, again.qr_svg) == (first.secret, first.uri, first.qr_svg)
    with pytest.raises(TwoFactorError) as raised:
        enrolment_for_secret("kari", ISSUER, "JBSWY3DPEHPK3PXP")  # 80 bits: too short
    assert raised.value.code == "invalid_secret"


def test_enrolment_round_trip(database: Database) -> None:
    user_id = _add_user(database)
    assert not has_two_factor(database, user_id)
    secret = begin_enrolment("kari", ISSUER).secret
    codes = confirm_enrolment(database, _actor(user_id), user_id, secret, _code(secret), KEY, NOW)
    assert len(codes) == len(set(codes)) == RECOVERY_CODE_COUNT
    assert all(RECOVERY_FORMAT.fullmatch(code) for code in codes)
    assert has_two_factor(database, user_id)
    assert remaining_recovery_codes(database, user_id) == RECOVERY_CODE_COUNT
    with database.reading() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.totp_enabled_at == NOW
    [event] = _events(database, "totp.enrol")
    assert (event.user_id, event.object_type, event.object_id) == (user_id, "user", str(user_id))
    assert event.details["recovery_codes"] == RECOVERY_CODE_COUNT
    assert verify_totp(database, _actor(user_id), user_id, _code(secret, steps=1), KEY, NOW)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("other", "a different code"),
        ("12345", "too short"),
        ("abcdef", "not digits"),
        ("", "empty"),
        ("step-2", "two steps early"),
        ("step+2", "two steps late"),
    ],
)
def test_enrolment_with_a_wrong_code_stores_nothing(
    database: Database, typed: str, why: str
) -> None:
    user_id = _add_user(database)
    secret = begin_enrolment("kari", ISSUER).secret
    code = {
        "other": _other_code(secret),
        "step-2": _code(secret, steps=-2),
        "step+2": _code(secret, steps=2),
    }.get(typed, typed)
    with pytest.raises(TwoFactorError) as raised:
        confirm_enrolment(database, _actor(user_id), user_id, secret, code, KEY, NOW)
    assert raised.value.code == "wrong_code", why
    assert not has_two_factor(database, user_id)
    assert remaining_recovery_codes(database, user_id) == 0
    assert _events(database, "totp.enrol") == []
    [failure] = _events(database, "totp.failure")
    assert failure.details == {"reason": "wrong_code", "method": "totp", "stage": "enrolment"}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("not base32!", "invalid_secret"), ("JBSWY3DPEHPK3PXP", "invalid_secret")],
)
def test_enrolment_refuses_bad_secrets(database: Database, secret: str, problem: str) -> None:
    user_id = _add_user(database)
    with pytest.raises(TwoFactorError) as raised:
        confirm_enrolment(database, _actor(user_id), user_id, secret, "123456", KEY, NOW)
    assert raised.value.code == problem


def test_enrolment_accepts_secret_as_typed_with_spaces_and_lower_case(database: Database) -> None:
    user_id = _add_user(database)
    secret = begin_enrolment("kari", ISSUER).secret
    typed = " ".join(secret[i : i + 4] for i in range(0, 32, 4)).lower()
    confirm_enrolment(database, _actor(user_id), user_id, typed, _code(secret), KEY, NOW)
    assert verify_totp(database, _actor(user_id), user_id, _code(secret, steps=1), KEY, NOW)


def test_enrolment_of_unknown_user(database: Database) -> None:
    secret = begin_enrolment("kari", ISSUER).secret
    with pytest.raises(TwoFactorError) as raised:
        confirm_enrolment(database, ADMIN, 999, secret, _code(secret), KEY, NOW)
    assert raised.value.code == "unknown_user"


def test_second_enrolment_needs_replace(database: Database) -> None:
    user_id, old_secret, old_codes = _enrolled(database)
    new_secret = begin_enrolment("kari", ISSUER).secret
    later = NOW + timedelta(minutes=5)
    with pytest.raises(TwoFactorError) as raised:
        confirm_enrolment(
            database, _actor(user_id), user_id, new_secret, _code(new_secret, later), KEY, later
        )
    assert raised.value.code == "already_enrolled"
    new_codes = confirm_enrolment(
        database,
        _actor(user_id),
        user_id,
        new_secret,
        _code(new_secret, later),
        KEY,
        later,
        replace=True,
    )
    assert set(new_codes).isdisjoint(old_codes)
    assert remaining_recovery_codes(database, user_id) == RECOVERY_CODE_COUNT
    assert not use_recovery_code(database, _actor(user_id), user_id, old_codes[0], later)
    even_later = later + timedelta(minutes=1)
    actor = _actor(user_id)
    assert not verify_totp(database, actor, user_id, _code(old_secret, even_later), KEY, even_later)
    assert verify_totp(database, actor, user_id, _code(new_secret, even_later), KEY, even_later)
    assert [e.details["replaced"] for e in _events(database, "totp.enrol")] == [False, True]


# --- secret at rest ---------------------------------------------------------------------


def test_secret_is_not_stored_in_clear(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    with database.reading() as session:
        user = session.get(User, user_id)
        assert user is not None and user.totp_secret_encrypted is not None
        stored = bytes(user.totp_secret_encrypted)
    assert secret.encode() not in stored
    assert secret.lower().encode() not in stored
    assert base64.b32decode(secret) not in stored


def test_wrong_key_fails_loudly(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    later = NOW + timedelta(minutes=1)
    with pytest.raises(SecretDecryptionError):
        verify_totp(database, _actor(user_id), user_id, _code(secret, later), generate_key(), later)


def test_secret_copied_to_another_user_does_not_decrypt(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    thief = _add_user(database, "mallory")
    with database.transaction() as session:
        victim, copy = session.get(User, user_id), session.get(User, thief)
        assert victim is not None and copy is not None
        copy.totp_secret_encrypted = victim.totp_secret_encrypted
    later = NOW + timedelta(minutes=1)
    with pytest.raises(SecretDecryptionError):
        verify_totp(database, _actor(thief), thief, _code(secret, later), KEY, later)


# --- verification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_window_is_one_step_either_side(database: Database, steps: int, accepted: bool) -> None:
    user_id, secret, _ = _enrolled(database)
    later = NOW + timedelta(minutes=10)
    code = _code(secret, later, steps)
    assert verify_totp(database, _actor(user_id), user_id, code, KEY, later) is accepted
    failures = _events(database, "totp.failure")
    assert [f.details["reason"] for f in failures] == ([] if accepted else ["wrong_code"])


@pytest.mark.parametrize("spelling", ["{}", " {} ", "{0[0]}{0[1]}{0[2]} {0[3]}{0[4]}{0[5]}"])
def test_code_may_carry_spaces(database: Database, spelling: str) -> None:
    user_id, secret, _ = _enrolled(database)
    later = NOW + timedelta(minutes=1)
    typed = spelling.format(_code(secret, later))
    assert verify_totp(database, _actor(user_id), user_id, typed, KEY, later)


def test_code_is_refused_when_replayed(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    later = NOW + timedelta(minutes=1)
    code = _code(secret, later)
    assert verify_totp(database, _actor(user_id), user_id, code, KEY, later)
    assert not verify_totp(database, _actor(user_id), user_id, code, KEY, later)
    assert not verify_totp(
        database, _actor(user_id), user_id, code, KEY, later + timedelta(seconds=20)
    )
    reasons = [f.details["reason"] for f in _events(database, "totp.failure")]
    assert reasons == ["replay", "replay"]
    with database.reading() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.totp_last_step == pyotp.TOTP(secret).timecode(later)


def test_earlier_step_is_refused_after_a_later_one(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    later = NOW + timedelta(minutes=1)
    assert verify_totp(database, _actor(user_id), user_id, _code(secret, later, 1), KEY, later)
    assert not verify_totp(database, _actor(user_id), user_id, _code(secret, later), KEY, later)


def test_enrolment_code_cannot_be_used_to_log_in(database: Database) -> None:
    user_id, secret, _ = _enrolled(database)
    assert not verify_totp(database, _actor(user_id), user_id, _code(secret), KEY, NOW)
    assert verify_totp(database, _actor(user_id), user_id, _code(secret, steps=1), KEY, NOW)


def test_unenrolled_user_is_refused_and_audited(database: Database) -> None:
    user_id = _add_user(database)
    assert not verify_totp(database, _actor(user_id), user_id, "123456", KEY, NOW)
    [failure] = _events(database, "totp.failure")
    assert failure.details["reason"] == "not_enrolled"
    assert (failure.user_id, failure.remote_addr) == (user_id, "192.0.2.7")


def test_naive_time_is_refused(database: Database) -> None:
    user_id, _, _ = _enrolled(database)
    with pytest.raises(ValueError, match="timezone"):
        verify_totp(database, _actor(user_id), user_id, "123456", KEY, NOW.replace(tzinfo=None))


# --- recovery codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "spell",
    [
        str,
        str.upper,
        lambda c: c.replace("-", ""),
        lambda c: " ".join(c.replace("-", "")),
        lambda c: f"  {c.upper().replace('-', ' ')}\n",
    ],
    ids=["as-shown", "upper", "no-hyphens", "spaced", "upper-spaces-newline"],
)
def test_recovery_code_works_once_in_any_spelling(
    database: Database, spell: Callable[[str], str]
) -> None:
    user_id, _, codes = _enrolled(database)
    actor = _actor(user_id)
    assert use_recovery_code(database, actor, user_id, spell(codes[3]), NOW)
    assert remaining_recovery_codes(database, user_id) == RECOVERY_CODE_COUNT - 1
    assert not use_recovery_code(database, actor, user_id, codes[3], NOW)
    assert not use_recovery_code(database, actor, user_id, spell(codes[3]), NOW)
    [used] = _events(database, "recovery_code.used")
    assert used.details == {"remaining": RECOVERY_CODE_COUNT - 1}
    assert [f.details["method"] for f in _events(database, "totp.failure")] == ["recovery_code"] * 2


def test_every_recovery_code_works_once(database: Database) -> None:
    user_id, _, codes = _enrolled(database)
    actor = _actor(user_id)
    assert all(use_recovery_code(database, actor, user_id, code, NOW) for code in codes)
    assert remaining_recovery_codes(database, user_id) == 0
    assert not any(use_recovery_code(database, actor, user_id, code, NOW) for code in codes)
    with database.reading() as session:
        assert set(session.scalars(select(RecoveryCode.used_at))) == {NOW}


@pytest.mark.parametrize("typed", ["", "abcd-efgh-jk", "abcd-efgh-j", "0000-0000-00", "wrong"])
def test_wrong_recovery_code_is_refused_and_audited(database: Database, typed: str) -> None:
    user_id, _, codes = _enrolled(database)
    assert typed.replace("-", "") not in {c.replace("-", "") for c in codes}
    assert not use_recovery_code(database, _actor(user_id), user_id, typed, NOW)
    assert remaining_recovery_codes(database, user_id) == RECOVERY_CODE_COUNT
    [failure] = _events(database, "totp.failure")
    assert failure.details == {"reason": "wrong_code", "method": "recovery_code", "stage": "login"}


def test_recovery_codes_are_stored_as_argon2id_hashes(database: Database) -> None:
    _, _, codes = _enrolled(database)
    with database.reading() as session:
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(hashes) == RECOVERY_CODE_COUNT
    assert all(h.startswith("$argon2id$") for h in hashes)
    stored = " ".join(hashes)
    assert not any(code in stored or code.replace("-", "") in stored for code in codes)


def test_recovery_codes_belong_to_their_user(database: Database) -> None:
    _, _, codes = _enrolled(database)
    other = _add_user(database, "ola")
    assert not use_recovery_code(database, _actor(other), other, codes[0], NOW)


# --- reset ------------------------------------------------------------------------------


def test_reset_clears_secret_and_codes(database: Database) -> None:
    user_id, secret, codes = _enrolled(database)
    reset_two_factor(database, ADMIN, user_id)
    assert not has_two_factor(database, user_id)
    assert remaining_recovery_codes(database, user_id) == 0
    later = NOW + timedelta(minutes=1)
    assert not verify_totp(database, _actor(user_id), user_id, _code(secret, later), KEY, later)
    assert not use_recovery_code(database, _actor(user_id), user_id, codes[0], later)
    with database.reading() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert (user.totp_secret_encrypted, user.totp_enabled_at, user.totp_last_step) == (
            None,
            None,
            None,
        )
        assert session.scalars(select(RecoveryCode)).all() == []
    [event] = _events(database, "totp.reset")
    assert (event.username, event.object_id) == ("admin", str(user_id))
    assert event.details == {"was_enrolled": True, "recovery_codes_removed": RECOVERY_CODE_COUNT}
    new_secret = begin_enrolment("kari", ISSUER).secret
    confirm_enrolment(
        database, _actor(user_id), user_id, new_secret, _code(new_secret, later), KEY, later
    )
    assert has_two_factor(database, user_id)


def test_reset_of_unknown_user(database: Database) -> None:
    with pytest.raises(TwoFactorError) as raised:
        reset_two_factor(database, ADMIN, 999)
    assert raised.value.code == "unknown_user"
    assert _events(database, "totp.reset") == []
