"""While the demo seed plays its year, the daily bill run leaves the demo company alone: billed
for today halfway, every later night of the seed's past would be refused (runs go forward)."""

from sqlalchemy import func, select

from webapp.company.models import Company
from webapp.demo import seeding
from webapp.extensions import db
from webapp.invoices.commands import run_for_every_company
from webapp.invoices.models import BillRun


def runs(company_id):
    return db.session.scalar(
        select(func.count()).select_from(BillRun).where(BillRun.company_id == company_id)
    )


def test_the_daily_bill_run_skips_a_company_the_seed_is_playing_and_only_that_one(app, company):
    other = Company(name="Another MSP")
    db.session.add(other)
    db.session.commit()
    seeding.mark(company)
    run_for_every_company()
    assert (runs(company), runs(other.id)) == (0, 1)

    seeding.unmark(company)
    run_for_every_company()
    assert (runs(company), runs(other.id)) == (1, 2)


def test_without_redis_the_daily_bill_run_still_bills_every_company(app, company, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down():
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(seeding, "redis_connection", down)
    run_for_every_company()
    assert runs(company) == 1
