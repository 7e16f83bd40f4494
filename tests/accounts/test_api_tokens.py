"""API tokens: made once, stored only as a hash, revocable, and the `flask tokens` commands."""

import datetime as dt
import hashlib

import pytest
import time_machine
from sqlalchemy import select

from webapp.accounts import api_tokens
from webapp.accounts.models import ApiToken
from webapp.company.models import Company
from webapp.extensions import db
from webapp.tenancy import NotFound


def _everything_stored() -> str:
    """Every value of every row of every table, as text."""
    rows = []
    for table in db.metadata.sorted_tables:
        rows += [repr(tuple(row)) for row in db.session.execute(select(table))]
    db.session.rollback()
    return "\n".join(rows)


def test_a_token_is_shown_once_and_stored_only_as_its_sha256(app, company):
    row, token = api_tokens.create(company, "prometheus", "admin@msp.example")
    assert token.startswith("mspd_") and len(token) >= 45  # prefix + 32 random bytes
    stored = db.session.get(ApiToken, row.id)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[:11] and stored.created_by == "admin@msp.example"
    everything = _everything_stored()
    assert stored.token_hash in everything
    assert token not in everything
    assert token[len(stored.prefix) :] not in everything  # not even the secret part


def test_tokens_are_different_every_time(app, company):
    tokens = {api_tokens.create(company, "t", "test")[1] for _ in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_a_token_needs_a_sensible_name(app, company, name):
    with pytest.raises(ValueError, match="name"):
        api_tokens.create(company, name, "test")
    assert db.session.scalar(select(ApiToken.id)) is None


def test_authenticate_finds_the_live_token_and_nothing_else(app, company):
    row, token = api_tokens.create(company, "prometheus", "test")
    assert api_tokens.authenticate(token).id == row.id
    assert api_tokens.authenticate(f"  {token}  ").id == row.id
    for wrong in (
        "",
        token[:-1],
        token + "x",
        token.upper(),
        "Bearer " + token,
        "mspd_" + "a" * 300,
    ):
        assert api_tokens.authenticate(wrong) is None, wrong


def test_a_revoked_token_no_longer_authenticates_and_revoking_twice_changes_nothing(app, company):
    row, token = api_tokens.create(company, "prometheus", "test")
    api_tokens.revoke(company, row.id, "admin")
    revoked_at = db.session.get(ApiToken, row.id).revoked_at
    assert revoked_at is not None
    assert api_tokens.authenticate(token) is None
    api_tokens.revoke(company, row.id, "admin")
    assert db.session.get(ApiToken, row.id).revoked_at == revoked_at


def test_another_companys_token_cannot_be_revoked(app, company, other_company):
    row, token = api_tokens.create(other_company, "theirs", "test")
    with pytest.raises(NotFound):
        api_tokens.revoke(company, row.id, "admin")
    assert api_tokens.authenticate(token).company_id == other_company


def test_last_used_is_written_at_most_once_a_minute(app, company):
    row, token = api_tokens.create(company, "prometheus", "test")
    start = dt.datetime(2026, 3, 2, 9, 0, 0)

    def last_used():
        db.session.rollback()
        return db.session.get(ApiToken, row.id).last_used_at

    with time_machine.travel(start.replace(tzinfo=dt.UTC), tick=False) as traveller:
        api_tokens.authenticate(token)
        assert last_used() == start
        traveller.shift(dt.timedelta(seconds=59))
        api_tokens.authenticate(token)
        assert last_used() == start  # not written again within the minute
        traveller.shift(dt.timedelta(seconds=2))
        api_tokens.authenticate(token)
        assert last_used() == start + dt.timedelta(seconds=61)


def test_tokens_commands_create_list_and_revoke(runner, company):
    made = runner.invoke(args=["tokens", "create", "prometheus"])
    assert made.exit_code == 0, made.output
    token = next(word for word in made.output.split() if word.startswith("mspd_"))
    assert "cannot be shown again" in made.output
    row = db.session.scalars(select(ApiToken)).one()
    assert row.name == "prometheus" and row.company_id == company and row.created_by == "cli"

    listed = runner.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0
    assert f"{row.id}\tprometheus\t{row.prefix}...\tactive\tlast used never" in listed.output
    assert token not in listed.output

    revoked = runner.invoke(args=["tokens", "revoke", str(row.id)])
    assert revoked.exit_code == 0, revoked.output
    assert api_tokens.authenticate(token) is None
    assert "\trevoked " in runner.invoke(args=["tokens", "list"]).output

    missing = runner.invoke(args=["tokens", "revoke", "999"])
    assert missing.exit_code != 0 and "No ApiToken 999" in missing.output


def test_tokens_commands_choose_the_company_like_the_others(runner, company):
    other = Company(name="Second MSP")
    db.session.add(other)
    db.session.commit()
    assert runner.invoke(args=["tokens", "create", "a"]).exit_code == 0
    assert runner.invoke(args=["tokens", "create", "b", "--company", str(other.id)]).exit_code == 0
    owners = dict(db.session.execute(select(ApiToken.name, ApiToken.company_id)).all())
    assert owners == {"a": company, "b": other.id}
    assert "No API tokens." not in runner.invoke(args=["tokens", "list"]).output
    listed = runner.invoke(args=["tokens", "list", "--company", str(other.id)]).output
    assert "\tb\t" in listed and "\ta\t" not in listed
    assert runner.invoke(args=["tokens", "create", "  "]).exit_code != 0
