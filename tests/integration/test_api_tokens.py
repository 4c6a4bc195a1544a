"""API tokens: made once, stored hashed, scoped, expiring, revocable, audited, rate-limited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from data_access.access import scope_for_user
from data_access.accounts import disable_user, find_user_id, list_grants
from data_access.accounts import revoke as revoke_grant
from data_access.api_tokens import TokenError, create_token, list_tokens, revoke_token
from data_access.audit import SYSTEM, verify_chain
from data_access.models import AuditEvent
from data_access.models_api import ApiToken
from portal.api.spec import PREFIX
from tests.integration.test_api import UNIT_A, UNIT_B, World, api_world

LIST = f"{PREFIX}/registries/stroke/registrations"


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    yield from api_world(tmp_path, database_url)


def _token_row(world: World, name: str) -> ApiToken:
    with world.database.reading() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).one()
        session.expunge(row)
        return row


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.database.reading() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def test_the_secret_is_stored_only_as_its_hash(world: World) -> None:
    secret = world.tokens["registrar-a"]
    assert secret.startswith("nkr_") and len(secret) >= 40
    row = _token_row(world, "registrar-a token")
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[:10]
    with world.database.reading() as session:
        texts = [str(event.details) for event in session.scalars(select(AuditEvent))]
    assert not any(secret in text for text in texts)
    summaries = list_tokens(world.database)
    assert {t.name for t in summaries} >= {"registrar-a token", "EPJ Oslo"}
    assert not any(secret in repr(t) for t in summaries)


def test_every_use_is_audited_with_method_path_and_status(world: World) -> None:
    client = world.client("registrar-a")
    assert client.get(f"{LIST}?limit=5").status_code == 200
    assert client.get(f"{PREFIX}/registries/stroke/registrations/999999").status_code == 404
    uses = _events(world, "api.request")
    assert [(e.details["method"], e.details["path"], e.details["status"]) for e in uses] == [
        ("GET", LIST, 200),
        ("GET", f"{PREFIX}/registries/stroke/registrations/999999", 404),
    ]
    row = _token_row(world, "registrar-a token")
    assert all(e.object_id == str(row.id) and e.username == "registrar-a" for e in uses)
    assert uses[0].details["query"] == "limit=5"
    assert row.last_used_at is not None
    assert verify_chain(world.database).ok


def test_revoked_and_expired_tokens_are_refused_and_the_refusal_audited(world: World) -> None:
    client = world.client("registrar-a")
    assert client.get(LIST).status_code == 200
    row = _token_row(world, "registrar-a token")
    owner = scope_for_user(world.database, find_user_id(world.database, "registrar-a"))
    assert revoke_token(world.database, owner, owner.actor, row.id, datetime.now(UTC))
    refused = client.get(LIST)
    assert refused.status_code == 401
    assert _events(world, "api_token.revoke")[0].object_id == str(row.id)

    system = _token_row(world, "EPJ Oslo")
    with world.database.transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == system.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = world.client("system-a").get(f"{PREFIX}/registries")
    assert expired.status_code == 401
    assert expired.get_json()["error"]["code"] == "invalid_token"
    reasons = [(e.object_id, e.details["reason"]) for e in _events(world, "api.token_refused")]
    assert (str(row.id), "revoked") in reasons and (str(system.id), "expired") in reasons


def test_a_users_token_never_reaches_beyond_the_users_grants(world: World) -> None:
    client = world.client("registrar-a")
    assert len(client.get(LIST).get_json()["registrations"]) == 1
    grant_id = list_grants(world.database, "stroke").filter(username="registrar-a")["grant_id"][0]
    revoke_grant(world.database, SYSTEM, int(grant_id))
    assert world.client("registrar-a").get(LIST).get_json()["registrations"] == []
    disable_user(world.database, SYSTEM, find_user_id(world.database, "registrar-a"))
    assert world.client("registrar-a").get(LIST).status_code == 401


@pytest.mark.parametrize(
    ("creator", "owner", "units", "field"),
    [
        ("registrar-a", "registrar-a", [UNIT_B], "unit_ids"),  # own token, unit not granted
        ("registrar-a", None, [UNIT_A], "unit_ids"),  # a system token needs an admin
        ("clinician-a", "registrar-b", [UNIT_B], "unit_ids"),  # for another user: admin only
    ],
)
def test_who_may_create_which_token(
    world: World, creator: str, owner: str | None, units: list[int], field: str
) -> None:
    scope = scope_for_user(world.database, find_user_id(world.database, creator))
    moment = datetime.now(UTC)
    with pytest.raises(TokenError) as refused:
        create_token(
            world.database, scope, scope.actor, name="x", registry_key="stroke",
            role="registrar", unit_ids=units, expires_at=moment + timedelta(days=1),
            owner_user_id=None if owner is None else find_user_id(world.database, owner),
            moment=moment,
        )  # fmt: skip
    assert refused.value.field == field


def test_a_user_makes_a_read_only_token_for_themselves(world: World) -> None:
    scope = scope_for_user(world.database, find_user_id(world.database, "registrar-a"))
    moment = datetime.now(UTC)
    made = create_token(
        world.database, scope, scope.actor, name="mine", registry_key="stroke",
        role="clinician", unit_ids=[UNIT_A], expires_at=moment + timedelta(days=7),
        owner_user_id=scope.actor.user_id, moment=moment,
    )  # fmt: skip
    client = world.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {made.secret}"
    record = client.get(
        f"{PREFIX}/registries/stroke/registrations/{world.registrations[UNIT_A]}"
    ).get_json()
    assert record["editable"] is False  # the token's role, not the user's, decides
    with pytest.raises(TokenError):
        create_token(
            world.database, scope, scope.actor, name="too long", registry_key="stroke",
            role="clinician", unit_ids=[UNIT_A], expires_at=moment + timedelta(days=400),
            owner_user_id=scope.actor.user_id, moment=moment,
        )  # fmt: skip


def test_rate_limit_per_token_answers_429_and_is_audited(world: World) -> None:
    world.app.config["API_RATE_LIMIT"] = "3 per minute"
    client = world.client("registrar-a")
    statuses = [client.get(f"{PREFIX}/registries").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get(f"{PREFIX}/registries")
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert [e.details["status"] for e in _events(world, "api.request")] == [200] * 3 + [429] * 2
    # Another token has its own allowance.
    assert world.client("registrar-b").get(f"{PREFIX}/registries").status_code == 200


def test_cli_creates_lists_and_revokes(world: World) -> None:
    runner = world.app.test_cli_runner()
    made = runner.invoke(
        args=["tokens", "create", "--name", "EPJ Bergen", "--registry", "stroke",
              "--role", "registrar", "--unit", str(UNIT_B), "--days", "10"]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("nkr_")
    client = world.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    listed = client.get(LIST).get_json()["registrations"]
    assert [r["id"] for r in listed] == [world.registrations[UNIT_B]]
    table = runner.invoke(args=["tokens", "list"])
    assert "EPJ Bergen" in table.output and "(system)" in table.output
    assert secret not in table.output
    token_id = _token_row(world, "EPJ Bergen").id
    revoked = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert client.get(LIST).status_code == 401
    bad = runner.invoke(
        args=["tokens", "create", "--name", "x", "--registry", "nope", "--role", "registrar",
              "--unit", str(UNIT_A)]
    )  # fmt: skip
    assert bad.exit_code == 1 and "unknown registry" in bad.output
