"""The operations dashboard for managed service providers."""

from pathlib import Path

from flask import Flask

from webapp.config import Config


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])

    from webapp.database import configure_sqlite
    from webapp.extensions import csrf, db, htmx, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)

    from webapp import (
        alerts,
        api,
        auth,
        cli,
        dashboard,
        errors,
        health,
        incident_pages,
        live,
        mailbox,
        operations,
        renewals,
        security_headers,
        services,
        settings,
        templating,
        url_ids,
    )

    for module in (
        auth,
        dashboard,
        services,
        incident_pages,
        renewals,
        alerts,
        operations,
        settings,
        live,
        health,
        mailbox,
        api,
    ):
        app.register_blueprint(module.bp)
    operations.mount_rq_dashboard(app)
    errors.register(app)
    url_ids.register(app)
    templating.register(app)
    security_headers.register(app)
    cli.register(app)
    return app
