"""Settings -> Import: templates, the dry run's table with its errors in place, the commit
button, the commit itself, and only admins."""

import io
import re
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.imports.files import service_row, services_csv
from tests.support.sessions import Session, add_user
from webapp.extensions import db
from webapp.imports import parsing, views
from webapp.imports.parsing import MAX_BYTES
from webapp.lifecycle.statuses import UserRole as R
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService

TOKEN = re.compile(r'name="token" value="([^"]*)"')


def upload(session, raw: bytes, kind="services", name="services.csv"):
    return session.post(
        "/settings/import/dry-run",
        {"kind": kind, "file": (io.BytesIO(raw), name)},
        htmx=False,
        content_type="multipart/form-data",
    )


def _services() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ClientService))


def test_the_page_offers_a_template_per_kind_and_says_what_each_column_holds(as_role, clock):
    admin = as_role(R.ADMIN)
    html = admin.get("/settings/import").get_data(as_text=True)
    for kind in ("clients", "contacts", "services"):
        assert f'href="/settings/import/template/{kind}.csv"' in html
    assert "pending, active or suspended: the status it has now" in html
    assert 'href="/settings/import"' in admin.get("/settings").get_data(as_text=True)
    response = admin.get("/settings/import/template/services.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="services-template.csv"'
    header, example = response.get_data(as_text=True).splitlines()
    assert header.startswith("Client,Client External ID,Name,Type,Status,Start Date")
    assert example.startswith("Acme Dental,ACME-001,Managed Backup,backup,active,2025-01-01")
    assert admin.get("/settings/import/template/invoices.csv").status_code == 404


def test_a_dry_run_shows_the_error_row_in_place_and_no_commit(as_role, company, acme):
    admin = as_role(R.ADMIN)
    raw = services_csv(service_row(), service_row(name="Seats", Price="abc"))
    response = upload(admin, raw)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    table = html[html.index('id="import_rows"') :]
    error_row = table[table.index('class="outcome-error"') :].split("</tr>")[0]
    assert ">3</td>" in error_row and "Seats · Acme Dental" in error_row
    assert "Price: &#39;abc&#39; is not an amount (write it as 149.00)." in error_row
    assert "1 row with errors: nothing is imported while any row has one." in html
    assert '<button disabled aria-disabled="true">Import 1 row</button>' in html
    assert TOKEN.search(html).group(1) == ""
    assert _services() == 0


def test_a_clean_dry_run_commits_once_with_its_button(as_role, company, acme):
    admin = as_role(R.ADMIN)
    response = upload(admin, services_csv(service_row(), service_row(name="Monitoring")))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<button class="primary">Import 2 rows</button>' in html
    token = TOKEN.search(html).group(1)
    digest = re.search(r'name="digest" value="([^"]+)"', html).group(1)
    assert _services() == 0  # the dry run wrote nothing

    done = admin.post("/settings/import/commit", {"token": token, "digest": digest}, htmx=False)
    assert done.status_code == 303
    assert done.headers["Location"] == "/settings/import?kind=services"
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "Imported services from services.csv: 2 created, 0 updated, 0 unchanged." in page
    assert _services() == 2

    again = admin.post("/settings/import/commit", {"token": token, "digest": digest}, htmx=False)
    assert again.status_code == 422
    assert views.GONE in again.get_data(as_text=True)
    assert _services() == 2

    rerun = upload(admin, services_csv(service_row(), service_row(name="Monitoring")))
    html = rerun.get_data(as_text=True)
    assert html.count('class="outcome-unchanged"') == 2
    assert "Every row is unchanged: there is nothing to import." in html


def test_a_commit_whose_records_changed_meanwhile_shows_the_new_dry_run(as_role, company, acme):
    admin = as_role(R.ADMIN)
    html = upload(admin, services_csv(service_row())).get_data(as_text=True)
    token = TOKEN.search(html).group(1)
    response = admin.post(
        "/settings/import/commit", {"token": token, "digest": "stale"}, htmx=False
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The records changed since the dry run" in html
    assert TOKEN.search(html).group(1) == token  # reviewed, it can be imported
    assert _services() == 0
    digest = re.search(r'name="digest" value="([^"]+)"', html).group(1)
    done = admin.post("/settings/import/commit", {"token": token, "digest": digest}, htmx=False)
    assert done.status_code == 303
    assert _services() == 1


def test_two_commits_of_one_dry_run_at_once_import_it_once(as_role, company, acme, monkeypatch):
    """A double click, or the same dry run committed from two tabs: the first commit takes the
    file, the second finds it gone and says so, even while the first is still writing."""
    tabs = [as_role(R.ADMIN), as_role(R.ADMIN)]
    html = upload(tabs[0], services_csv(service_row(), service_row(name="Monitoring")))
    html = html.get_data(as_text=True)
    form = {
        "token": TOKEN.search(html).group(1),
        "digest": re.search(r'name="digest" value="([^"]+)"', html).group(1),
    }
    real_commit = views.commit_import

    def slow_commit(*args, **kwargs):
        time.sleep(0.3)  # the other tab's commit arrives meanwhile
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(views, "commit_import", slow_commit)
    barrier, responses = threading.Barrier(2), []

    def commit(tab):
        barrier.wait()
        response = tab.post("/settings/import/commit", form, htmx=False)
        responses.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=commit, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(status for status, _ in responses) == [303, 422]
    refused = next(text for status, text in responses if status == 422)
    assert views.GONE in refused
    assert _services() == 2
    imports = select(func.count()).where(DomainEvent.type == "ImportCommitted")
    assert db.session.scalar(imports) == 1


def test_a_commit_that_fails_gives_the_dry_run_back_for_another_try(
    as_role, company, acme, monkeypatch
):
    admin = as_role(R.ADMIN)
    html = upload(admin, services_csv(service_row())).get_data(as_text=True)
    form = {
        "token": TOKEN.search(html).group(1),
        "digest": re.search(r'name="digest" value="([^"]+)"', html).group(1),
    }
    real_commit = views.commit_import

    def failing_commit(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(views, "commit_import", failing_commit)
    with pytest.raises(ConnectionError):
        admin.post("/settings/import/commit", form, htmx=False)
    assert _services() == 0
    monkeypatch.setattr(views, "commit_import", real_commit)
    assert admin.post("/settings/import/commit", form, htmx=False).status_code == 303
    assert _services() == 1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"kind": "invoices"}, "Choose what the file holds"),
        ({"kind": "services"}, "Choose a CSV file to upload."),
    ],
)
def test_a_dry_run_without_a_kind_or_a_file_says_so_in_place(as_role, clock, data, words):
    response = as_role(R.ADMIN).post("/settings/import/dry-run", data, htmx=False)
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused_in_place(as_role, company, acme, monkeypatch):
    assert MAX_BYTES == 5 * 2**20
    # Smaller here: the test client leaves a large upload's temporary file open.
    monkeypatch.setattr(parsing, "MAX_BYTES", 4096)
    monkeypatch.setattr(views, "MAX_BYTES", 4096)
    response = upload(as_role(R.ADMIN), b"Client,Name\r\n" + b"x" * 4096)
    assert response.status_code == 422
    assert "The file is larger than 4 kB: import at most that at once" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("role", [R.ACCOUNT_MANAGER, R.TECHNICIAN, R.VIEWER])
def test_only_admins_import(as_role, company, acme, role):
    admin_html = upload(as_role(R.ADMIN), services_csv(service_row())).get_data(as_text=True)
    token = TOKEN.search(admin_html).group(1)
    someone = as_role(role)
    assert someone.get("/settings/import").status_code == 403
    assert someone.get("/settings/import/template/services.csv").status_code == 403
    refused = upload(someone, services_csv(service_row()))
    assert refused.status_code == 403
    assert "Your role cannot import clients, contacts and services." in refused.get_data(
        as_text=True
    )
    assert someone.post("/settings/import/commit", {"token": token}, htmx=False).status_code == 403
    assert _services() == 0


def test_another_companys_token_finds_nothing(app, as_role, company, other_company, acme):
    html = upload(as_role(R.ADMIN), services_csv(service_row())).get_data(as_text=True)
    token = TOKEN.search(html).group(1)
    add_user(other_company, R.ADMIN, "admin@other.example")
    theirs = Session(app.test_client(), "admin@other.example")
    response = theirs.post("/settings/import/commit", {"token": token}, htmx=False)
    assert response.status_code == 422
    assert _services() == 0
