"""Company settings for admins: time zone, business hours, escalation, renewal reminders."""

import datetime as dt

import pytest
from sqlalchemy import update

from tests.support.factories import make_service
from webapp.clock import utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.incidents import recording
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import Severity, UserRole
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.sla import tracking as sla_tracking

R = UserRole


@pytest.fixture
def admin(as_role):
    return as_role(R.ADMIN)


def week(**days):
    """Form fields for the week: days={"0": ("09:00", "17:00"), ...}; others closed."""
    data = {}
    for day in range(7):
        opens, closes = days.get(f"d{day}", ("08:00", "18:00"))
        if f"d{day}" in days:
            data[f"days-{day}-is_open"] = "y"
        data[f"days-{day}-opens"] = opens
        data[f"days-{day}-closes"] = closes
    return data


def valid(**overrides):
    weekdays = {f"d{d}": ("09:00", "17:00") for d in range(5)}
    return {
        "timezone": "Europe/London",
        **week(**weekdays, d5=("10:00", "14:00")),
        "escalate_after_minutes": "45",
        "escalation_email": "oncall@msp.example",
        "reminder_days": "7, 30,14",
        **overrides,
    }


def company_row(company_id):
    db.session.rollback()
    return db.session.get(Company, company_id)


def test_the_page_shows_the_current_settings(admin, company):
    html = admin.get("/settings").get_data(as_text=True)
    assert 'name="timezone" required type="text" value="UTC"' in html
    assert '<input checked id="days-0-is_open" name="days-0-is_open" type="checkbox"' in html
    assert '<input id="days-6-is_open" name="days-6-is_open" type="checkbox"' in html
    assert 'value="30,14,7"' in html and 'value="30"' in html
    assert "Now: Mon–Fri 08:00–18:00." in html
    assert '<option value="Europe/London">' in html  # the zone names to pick from


def test_saving_stores_everything_and_says_so(admin, company):
    response = admin.post("/settings", valid(), target="settings_form")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="panel" id="settings_form"')
    assert "Settings saved." in html
    assert "Now: Mon–Fri 09:00–17:00, Sat 10:00–14:00." in html
    row = company_row(company)
    assert row.timezone == "Europe/London"
    assert row.business_hours == {
        **{str(d): ["09:00", "17:00"] for d in range(5)},
        "5": ["10:00", "14:00"],
    }
    assert (row.escalate_after_minutes, row.escalation_email) == (45, "oncall@msp.example")
    assert row.renewal_reminder_days == "30,14,7" and row.reminder_days == [30, 14, 7]
    # Times on the pages now follow the company's zone.
    assert 'value="Europe/London"' in admin.get("/settings").get_data(as_text=True)


def test_an_empty_escalation_email_means_the_account_manager(admin, company):
    admin.post("/settings", valid(escalation_email=" "))
    assert company_row(company).escalation_email is None


@pytest.mark.parametrize(
    ("overrides", "error_id", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone-error", "Not a time zone name we know"),
        ({"timezone": "../../etc/passwd"}, "timezone-error", "Not a time zone name we know"),
        ({"timezone": ""}, "timezone-error", "Enter a time zone"),
        ({"escalate_after_minutes": "0"}, "escalate_after_minutes-error", "From 1 to 10080"),
        ({"escalation_email": "not-an-address"}, "escalation_email-error", "Enter an email"),
        ({"reminder_days": "30,abc"}, "reminder_days-error", "“abc” is not a whole number"),
        ({"reminder_days": "30,0"}, "reminder_days-error", "“0” is not a whole number"),
        ({"reminder_days": " , "}, "reminder_days-error", "Enter at least one"),
        ({"reminder_days": ""}, "reminder_days-error", "Enter days such as 30,14,7."),
        (week(d0=("18:00", "09:00")), "days-0-closes-error", "Closing time must be after"),
        (week(d2=("09:00", "")), "days-2-closes-error", "Enter the opening and closing times"),
        (week(d1=("nine", "18:00")), "days-1-closes-error", "Enter a time."),
        (week(), "days-error", "Open at least one day a week"),
    ],
)
def test_errors_show_beside_their_fields_and_nothing_is_saved(
    admin, company, overrides, error_id, message
):
    data = valid()
    if any(key.startswith("days-") for key in overrides):
        data = {k: v for k, v in data.items() if not k.startswith("days-")}
    response = admin.post("/settings", {**data, **overrides}, target="settings_form")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{error_id}"' in html and message in html
    assert "nothing was saved" in html
    row = company_row(company)
    assert (row.timezone, row.business_hours, row.renewal_reminder_days) == ("UTC", None, "30,14,7")
    assert row.escalate_after_minutes == 30 and row.escalation_email is None


def business_hours_incident(company):
    """An open incident on a business-hours policy, opened an hour ago."""
    service_id = make_service(company)
    lc.activate(company, service_id, "t")
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(sla_response_minutes=100_000, sla_resolution_minutes=200_000)
    )
    db.session.commit()
    opened = utcnow() - dt.timedelta(hours=1)
    incident, _ = recording.record(
        company, recording.NewIncident(service_id, "Slow", Severity.LOW, opened_at=opened), "t"
    )
    return incident.id


def test_new_hours_reschedule_the_open_incidents_in_the_same_save(admin, company):
    incident_id = business_hours_incident(company)
    db.session.rollback()
    before = db.session.get(Incident, incident_id).next_check_at
    response = admin.post("/settings", valid(), target="settings_form")
    assert "The SLA clocks of 1 open incidents follow the new hours." in response.get_data(
        as_text=True
    )
    db.session.rollback()
    after = db.session.get(Incident, incident_id).next_check_at
    assert after is not None and after != before
    # Unchanged hours and zone: nothing to reschedule, and no word about it.
    again = admin.post("/settings", valid(escalate_after_minutes="50"), target="settings_form")
    assert "Settings saved." in again.get_data(as_text=True)
    assert "follow the new hours" not in again.get_data(as_text=True)


def test_a_failure_while_rescheduling_leaves_the_settings_as_they_were(admin, company, monkeypatch):
    business_hours_incident(company)

    def broken(service_id):
        raise RuntimeError("clock trouble")

    monkeypatch.setattr(sla_tracking, "reschedule", broken)
    with pytest.raises(RuntimeError, match="clock trouble"):
        admin.post("/settings", valid())
    row = company_row(company)
    assert (row.timezone, row.business_hours, row.escalate_after_minutes) == ("UTC", None, 30)


def test_without_javascript_saving_redirects_back_with_the_message(admin, company):
    response = admin.post("/settings", valid(), htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/settings"
    assert "Settings saved." in admin.get("/settings").get_data(as_text=True)
