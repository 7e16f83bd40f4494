"""The operations dashboard for managed service providers."""

from pathlib import Path

from flask import Flask

from webapp.config import Config


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)

    from webapp.database import configure_sqlite
    from webapp.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True
    )
    with app.app_context():
        configure_sqlite(db.engine)

    from webapp import cli, health

    app.register_blueprint(health.bp)
    cli.register(app)
    return app
