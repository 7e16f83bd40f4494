"""The features the app is made of: their blueprints, commands and refusals, in one place.

A new feature adds its blueprint and commands here; `create_app` wires what this lists.
"""

import importlib

from flask import Blueprint, Flask

MODELS = [
    "webapp.company.models",
    "webapp.clients.models",
    "webapp.accounts.models",
    "webapp.services.models",
    "webapp.billing.models",
    "webapp.invoices.models",
    "webapp.pipeline.models",
    "webapp.notifications.models",
    "webapp.incidents.models",
    "webapp.assets.models",
    "webapp.sla.models",
    "webapp.renewals.models",
    "webapp.health.models",
]


def load_models() -> None:
    """Every feature's tables, so the mappers, the metadata and Alembic know all of them,
    whichever features a process happens to import."""
    for module in MODELS:
        importlib.import_module(module)


def blueprints() -> list[Blueprint]:
    from webapp import api
    from webapp.accounts import people_views as people
    from webapp.accounts import views as accounts
    from webapp.activity import views as activity
    from webapp.assets import unrouted_views as unrouted
    from webapp.assets import views as assets
    from webapp.clients import views as clients
    from webapp.company import setup_page
    from webapp.company import views as company
    from webapp.downloads import views as downloads
    from webapp.imports import views as imports
    from webapp.incidents import views as incidents
    from webapp.invoices import views as invoices
    from webapp.notifications import mailbox
    from webapp.notifications import webhook_views as webhooks
    from webapp.overview import live
    from webapp.overview import views as overview
    from webapp.pipeline import healthz
    from webapp.pipeline import views as operations
    from webapp.renewals import views as renewals
    from webapp.reports import views as reports
    from webapp.services import views as services
    from webapp.sla import views as alerts

    return [
        accounts.bp,
        people.bp,
        overview.bp,
        services.bp,
        clients.bp,
        assets.bp,
        unrouted.bp,
        incidents.bp,
        renewals.bp,
        alerts.bp,
        activity.bp,
        reports.bp,
        invoices.bp,
        operations.bp,
        company.bp,
        imports.bp,
        setup_page.bp,
        live.bp,
        healthz.bp,
        mailbox.bp,
        webhooks.bp,
        api.bp,
        downloads.bp,
    ]


def commands() -> list:
    from webapp.accounts.commands import tokens_cli, users_cli
    from webapp.clients.commands import clients_cli
    from webapp.company.commands import companies_cli, setup_command, setup_token
    from webapp.demo.commands import seed_demo, seed_scale
    from webapp.imports.commands import import_command
    from webapp.invoices.commands import billing_cli
    from webapp.notifications.commands import webhooks_cli
    from webapp.pipeline.commands import deliveries_cli, events_cli, relay, scheduler, worker
    from webapp.services.commands import service_cli

    return [
        service_cli,
        billing_cli,
        clients_cli,
        events_cli,
        deliveries_cli,
        users_cli,
        webhooks_cli,
        tokens_cli,
        setup_command,
        setup_token,
        companies_cli,
        import_command,
        seed_demo,
        seed_scale,
        worker,
        scheduler,
        relay,
    ]


def mount(app: Flask) -> None:
    """What a feature adds to the app beyond a blueprint."""
    from webapp.pipeline import metrics

    metrics.register(app)


def refusals() -> tuple[type[Exception], ...]:
    """Refusals shown as a 409 with their message: the change was not made."""
    from webapp.assets.actions import AssetRefused
    from webapp.clients.actions import ClientRefused
    from webapp.incidents.checks import IncidentRefused
    from webapp.lifecycle.transitions import TransitionRefused

    return (TransitionRefused, IncidentRefused, ClientRefused, AssetRefused)
