"""Settings -> Import, for admins: templates, a dry run of an uploaded CSV, then the commit."""

from flask import Blueprint, Response, abort, flash, redirect, request, url_for

from webapp.accounts.access import actor, company_id, requires
from webapp.accounts.permissions import Can
from webapp.imports import uploads
from webapp.imports.columns import KINDS, template_csv
from webapp.imports.committing import ImportRefused, commit_import
from webapp.imports.parsing import MAX_BYTES
from webapp.imports.planning import Plan, plan_import
from webapp.rendering import page

bp = Blueprint("imports", __name__, url_prefix="/settings/import")

TEMPLATE = "imports/index.html"


def _page(status: int = 200, **context):
    context.setdefault("plan", None)
    context.setdefault("problem", None)
    context.setdefault("kind", request.form.get("kind") if request.method == "POST" else None)
    return page(TEMPLATE, kinds=KINDS, **context), status


@bp.get("")
@requires(Can.IMPORT)
def index():
    return _page(kind=request.args.get("kind"))


@bp.get("/template/<kind>.csv")
@requires(Can.IMPORT)
def template(kind):
    if kind not in KINDS:
        abort(404)
    return Response(
        template_csv(KINDS[kind]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind}-template.csv"'},
    )


@bp.post("/dry-run")
@requires(Can.IMPORT)
def dry_run():
    """Plan the uploaded file and show every row; nothing is written. A file with no errors is
    kept (uploads) for the commit button."""
    kind = request.form.get("kind", "")
    if kind not in KINDS:
        return _page(
            422, problem="Choose what the file holds: clients, contacts, services or assets."
        )
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(422, problem="Choose a CSV file to upload.")
    with upload.stream:  # a large upload is spooled to a temporary file: closed now
        raw = upload.read(MAX_BYTES + 1)
    filename = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
    plan = plan_import(company_id(), kind, raw, filename)
    token = None
    problem = None
    if plan.ok and plan.to_write:
        try:
            token = uploads.keep(company_id(), uploads.Upload(kind, filename, raw))
        except uploads.UploadUnavailable:
            problem = (
                "The file cannot be kept for the commit now (Redis does not answer). Try again "
                f"in a minute, or run `flask import {kind} FILE --commit` on the server."
            )
    return _page(200 if plan.ok else 422, plan=plan, token=token, problem=problem)


@bp.post("/commit")
@requires(Can.IMPORT)
def commit():
    """Import every row of the file the dry run showed, or none."""
    token = request.form.get("token", "")
    try:
        # Taken out before the commit: a second click (or tab) of the same dry run finds none.
        upload = uploads.claim(company_id(), token)
    except uploads.UploadUnavailable:
        return _page(503, problem="Redis does not answer: nothing was imported. Try again soon.")
    if upload is None:
        return _page(422, problem=GONE)
    try:
        plan = commit_import(
            company_id(),
            upload.kind,
            upload.content,
            upload.filename,
            actor(),
            expected_digest=request.form.get("digest", ""),
        )
    except ImportRefused as refused:
        # Nothing was written: once reviewed, the new plan can be committed with the same token.
        again = refused.plan.ok and refused.plan.to_write
        kept = again and uploads.give_back(company_id(), token, upload)
        problem = str(refused)
        if again and not kept:
            problem += " Upload the file again to import it: it cannot be kept for now."
        return _page(
            409 if refused.plan.ok else 422,
            plan=refused.plan,
            token=token if kept else None,
            problem=problem,
            kind=upload.kind,
        )
    except Exception:
        # The unit of work rolled back: the person may try the same dry run again.
        uploads.give_back(company_id(), token, upload)
        raise
    flash(_summary(plan))
    return redirect(url_for(".index", kind=upload.kind), 303)


GONE = (
    "This dry run was imported already (or is being imported right now, or has expired after "
    "an hour): nothing more was imported. Upload the file again to see what it would change now."
)


def _summary(plan: Plan) -> str:
    counts = plan.counts
    if not plan.to_write:
        return f"Nothing to import from {plan.filename}: every row is unchanged."
    return (
        f"Imported {plan.kind.label.lower()} from {plan.filename}: {counts['create']} created, "
        f"{counts['update']} updated, {counts['unchanged']} unchanged."
    )
