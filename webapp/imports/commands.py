"""`flask import clients|contacts|services|assets FILE [--commit]`: the dry run's table, then the commit.

Exits 1 when a row (or the file) has an error: with --commit, nothing is imported then.
"""

import click

from webapp.accounts.commands import _company as known_company_or_first
from webapp.company.commands import ACTOR, company_option
from webapp.imports.columns import KINDS
from webapp.imports.committing import ImportRefused, commit_import
from webapp.imports.planning import Outcome, Plan, plan_import


def _print(plan: Plan, errors_only: bool) -> None:
    for message in plan.file_errors:
        click.echo(f"file: {message}", err=True)
    if plan.encoding and plan.encoding != "UTF-8":
        click.echo(f"read as {plan.encoding} text (it is not UTF-8)")
    if plan.unused_columns:
        click.echo(f"columns not imported: {', '.join(plan.unused_columns)}")
    width = max((len(row.label) for row in plan.rows), default=6)
    width = min(max(width, 6), 50)
    for row in plan.rows:
        if errors_only and row.outcome != Outcome.ERROR:
            continue
        click.echo(
            f"{row.number:>6}  {row.outcome.value:<9}  {row.label[:50]:<{width}}  {row.reason}"
        )
    counts = plan.counts
    click.echo(
        f"{len(plan.rows)} rows: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['unchanged']} unchanged, {counts['error']} with errors"
    )


@click.command("import")
@company_option
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.argument("file", type=click.File("rb"))
@click.option("--commit", is_flag=True, help="Import every row (or none, if any has an error).")
@click.option("--errors-only", is_flag=True, help="List only the rows with errors.")
def import_command(company_id, kind, file, commit, errors_only):
    """Dry run of a CSV of clients, contacts, services or assets; with --commit, import it."""
    company_id = known_company_or_first(company_id)
    raw, filename = file.read(), getattr(file, "name", "stdin").rsplit("/", 1)[-1]
    if not commit:
        plan = plan_import(company_id, kind, raw, filename)
        _print(plan, errors_only)
        if not plan.ok:
            raise SystemExit(1)
        return
    try:
        plan = commit_import(company_id, kind, raw, filename, ACTOR)
    except ImportRefused as refused:
        _print(refused.plan, errors_only)
        click.echo(f"Refused: {refused}", err=True)
        raise SystemExit(1) from None
    _print(plan, errors_only)
    if plan.to_write:
        click.echo(f"Imported: {plan.counts['create']} created, {plan.counts['update']} updated.")
    else:
        click.echo("Nothing to import: every row is unchanged.")
