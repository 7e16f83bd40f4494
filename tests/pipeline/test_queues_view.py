"""Operations > Queues, the app's own view of RQ that replaced rq-dashboard: third-party text
shown escaped, changes by POST with the CSRF token only, for the installation's operators,
and no way to delete what the scheduler holds."""

import time

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq_scheduler import Scheduler

from webapp.lifecycle.statuses import UserRole
from webapp.pipeline import queue_jobs, schedule
from webapp.pipeline.liveness import Pulse
from webapp.pipeline.queues import redis_connection

INJECTED = "500 <img src=x onerror=alert(1)>"


def webhook_answered(text: str) -> None:
    """A job that fails as a webhook call did, with the receiver's answer in its error."""
    raise RuntimeError(f"The webhook answered {text}")


def failed_job(work, text: str = INJECTED) -> str:
    job = Queue("notifications", connection=redis_connection()).enqueue(
        "tests.pipeline.test_queues_view.webhook_answered", text
    )
    work()
    assert job.id in FailedJobRegistry("notifications", connection=redis_connection())
    return job.id


def failed(job_id: str) -> bool:
    return job_id in FailedJobRegistry("notifications", connection=redis_connection())


def test_a_failed_jobs_error_and_description_are_shown_escaped(as_role, work):
    job_id = failed_job(work)
    response = as_role(UserRole.ADMIN).get("/operations/queues")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert job_id in html
    assert "<img" not in html
    assert "The webhook answered 500 &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<pre" in html.split(job_id, 1)[1]  # the traceback, as it was written
    assert "webhook_answered(&#39;500 &lt;img src=x onerror=alert(1)&gt;&#39;)" in html
    assert _script_src(response) == "'self'"


def _script_src(response) -> str:
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    return policy["script-src"]


def test_requeue_puts_a_failed_job_back_on_its_queue(as_role, work):
    job_id = failed_job(work)
    response = as_role(UserRole.ADMIN).post(
        "/operations/queues/requeue", {"job": job_id}, target="queues_panel"
    )
    assert response.status_code == 200
    assert f"Job {job_id} put back on its queue." in response.get_data(as_text=True)
    assert not failed(job_id)
    assert Queue("notifications", connection=redis_connection()).job_ids == [job_id]


def test_requeue_all_puts_every_failed_job_back(as_role, work):
    ids = {failed_job(work, "one"), failed_job(work, "two")}
    response = as_role(UserRole.ADMIN).post("/operations/queues/requeue")
    assert "2 failed jobs put back on their queues." in response.get_data(as_text=True)
    assert set(Queue("notifications", connection=redis_connection()).job_ids) == ids


def test_delete_removes_a_failed_job(as_role, work):
    job_id = failed_job(work)
    response = as_role(UserRole.ADMIN).post("/operations/queues/delete", {"job": job_id})
    assert f"Job {job_id} deleted." in response.get_data(as_text=True)
    assert not failed(job_id)
    assert not Job.exists(job_id, connection=redis_connection())


def test_a_get_or_a_post_without_the_token_changes_nothing(as_role, work):
    job_id = failed_job(work)
    admin = as_role(UserRole.ADMIN)
    for url in ("/operations/queues/requeue", "/operations/queues/delete"):
        assert admin.get(f"{url}?job={job_id}").status_code == 405
        refused = admin.client.post(url, data={"job": job_id})
        assert refused.status_code == 400
    assert failed(job_id)
    assert Job.exists(job_id, connection=redis_connection())


def test_a_non_operator_is_refused_and_changes_nothing(app, as_role, work, other_company):
    job_id = failed_job(work)
    viewer = as_role(UserRole.VIEWER)
    assert viewer.get("/operations/queues").status_code == 403
    assert viewer.post("/operations/queues/delete", {"job": job_id}).status_code == 403
    # Two companies and no QUEUE_DASHBOARD_OPERATORS: an admin sees only their own company.
    admin = as_role(UserRole.ADMIN)
    assert admin.post("/operations/queues/delete", {"job": job_id}).status_code == 403
    assert admin.post("/operations/queues/requeue").status_code == 403
    assert failed(job_id)


def test_a_failed_periodic_job_leaves_the_list_but_stays_with_the_scheduler(app, as_role):
    conn = redis_connection()
    schedule.register(Scheduler(connection=conn), app.config)
    job = Job.fetch("periodic-renewals", connection=conn)
    # As a worker records a failure: its result, and the job on the failed list.
    Result.create_failure(job, ttl=600, exc_string="database down")
    FailedJobRegistry("default", connection=conn).add(job, exc_string="database down")
    admin = as_role(UserRole.ADMIN)
    html = admin.get("/operations/queues").get_data(as_text=True)
    assert "database down" in html and "Take off the list" in html

    response = admin.post("/operations/queues/delete", {"job": "periodic-renewals"})
    assert "the scheduler keeps it" in response.get_data(as_text=True)
    assert "periodic-renewals" not in FailedJobRegistry("default", connection=conn)
    assert Job.exists("periodic-renewals", connection=conn)
    assert "periodic-renewals" in Scheduler(connection=conn)


def test_an_odd_job_id_is_a_404_and_one_no_longer_failed_is_said_so(as_role):
    admin = as_role(UserRole.ADMIN)
    assert admin.post("/operations/queues/delete", {"job": "../x y"}).status_code == 404
    gone = admin.post("/operations/queues/requeue", {"job": "event-1"})
    assert gone.status_code == 200
    assert "Job event-1 is no longer failed." in gone.get_data(as_text=True)


def test_the_page_lists_live_workers_and_the_periodic_jobs(app, as_role):
    conn = redis_connection()
    schedule.register(Scheduler(connection=conn), app.config)
    schedule.record_run(conn, "periodic-relay-outbox")
    rq_worker = SimpleWorker([Queue("default", connection=conn)], connection=conn)
    rq_worker.register_birth()
    pulse = Pulse(app)
    pulse.rq_name = rq_worker.name
    pulse.start()
    try:
        html = as_role(UserRole.ADMIN).get("/operations/queues").get_data(as_text=True)
    finally:
        pulse.stop()
    assert rq_worker.name in html
    for p in schedule.periodic_jobs(app.config):
        assert p.id in html
    assert "No worker is alive" not in html
    after = as_role(UserRole.ADMIN).get("/operations/queues").get_data(as_text=True)
    assert "No worker is alive" in after  # its beat stopped with it


def test_a_page_past_the_last_shows_the_last(as_role, work):
    job_id = failed_job(work)
    html = as_role(UserRole.ADMIN).get("/operations/queues?page=99999999999999999999")
    assert html.status_code == 200
    assert job_id in html.get_data(as_text=True)


def half_written_failed_job(job_id: str = "event-7") -> str:
    """A failed job whose hash Redis holds only in part, as a worker's status write leaves it in
    a Redis restarted empty: no `data`, which RQ refuses to load ("Unexpected job format")."""
    conn = redis_connection()
    conn.hset(Job.key_for(job_id), "status", "failed")
    conn.zadd(FailedJobRegistry("notifications", connection=conn).key, {job_id: time.time() + 3600})
    return job_id


def test_a_job_whose_record_is_incomplete_is_listed_not_a_500(as_role, work):
    whole = failed_job(work)
    half = half_written_failed_job()
    shown = queue_jobs.overview(1, 50)
    assert shown["failed_total"] == 2
    assert {r.id: r.incomplete for r in shown["failed"]} == {whole: False, half: True}

    response = as_role(UserRole.ADMIN).get("/operations/queues")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = html.split(f"<td>{half}", 1)[1].split("</tr>", 1)[0]
    assert "its record is incomplete" in row
    assert "Delete" in row and "Requeue" not in row  # there is no job in it to run
    assert INJECTED.replace("<", "&lt;").replace(">", "&gt;") in html  # the others as ever


def test_a_job_whose_record_is_incomplete_is_not_requeued_but_can_be_deleted(as_role):
    conn = redis_connection()
    job_id = half_written_failed_job()
    admin = as_role(UserRole.ADMIN)
    refused = admin.post("/operations/queues/requeue", {"job": job_id}, target="queues_panel")
    assert refused.status_code == 200
    assert f"Job {job_id} cannot be requeued: its record is incomplete." in refused.get_data(
        as_text=True
    )
    everything = admin.post("/operations/queues/requeue")
    assert "No failed jobs." in everything.get_data(as_text=True)
    assert failed(job_id) and conn.exists(Job.key_for(job_id))

    deleted = admin.post("/operations/queues/delete", {"job": job_id})
    assert f"Job {job_id} deleted." in deleted.get_data(as_text=True)
    assert not failed(job_id)
    assert not conn.exists(Job.key_for(job_id))


def test_a_worker_whose_job_record_is_incomplete_is_listed(app, as_role):
    conn = redis_connection()
    conn.hset(Job.key_for("event-8"), "last_heartbeat", "2026-01-01T00:00:00.000000Z")
    rq_worker = SimpleWorker([Queue("notifications", connection=conn)], connection=conn)
    rq_worker.register_birth()
    rq_worker.set_current_job_id("event-8")
    pulse = Pulse(app)
    pulse.rq_name = rq_worker.name
    pulse.start()
    try:
        response = as_role(UserRole.ADMIN).get("/operations/queues")
    finally:
        pulse.stop()
    assert response.status_code == 200
    row = response.get_data(as_text=True).split(rq_worker.name, 1)[1].split("</tr>", 1)[0]
    assert "event-8 <small>(its record is incomplete)</small>" in row
