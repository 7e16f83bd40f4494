"""The app factory: what is wired, in one list.

Shared modules first (extensions, errors, templates, headers), then each feature's blueprint and
commands. Nothing happens at import time; `create_app()` builds an app.
"""

import secrets
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import redis_client
from webapp.config import Config, secret_key_from_environment

MIN_SECRET_KEY_LENGTH = 16


class ConfigurationError(RuntimeError):
    """The app cannot start safely as configured; the message says what to set."""


def _require_secret_key(app: Flask) -> None:
    key = app.config.get("SECRET_KEY")
    if not key and app.testing:
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions live as long as the test
        return
    if not key:
        raise ConfigurationError(
            "SECRET_KEY is not set. Sessions and CSRF tokens are signed with it, so it must be"
            " secret and the same on every web host. Set SECRET_KEY (for example the output of"
            " `python -c 'import secrets; print(secrets.token_hex(32))'`) or SECRET_KEY_FILE"
            " (a file holding it). `make run` generates one in instance/secret_key."
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigurationError(
            f"SECRET_KEY is {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH}"
            " random ones (for example `python -c 'import secrets; print(secrets.token_hex(32))'`)."
        )


def _configure(app: Flask, config: type[Config] | dict | None) -> None:
    app.config.from_object(Config)
    # Read again now: the environment may have been given the key after webapp.config loaded
    # (a test or benchmark process setting a throwaway one); a config passed in still wins.
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secret_key_from_environment()
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    _require_secret_key(app)
    try:
        redis_client.check(app.config)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if "RATELIMIT_STORAGE_URI" not in app.config:
        uri, options = redis_client.limiter_storage(app.config)
        app.config.update(RATELIMIT_STORAGE_URI=uri, RATELIMIT_STORAGE_OPTIONS=options)
    if hops := app.config["TRUSTED_PROXIES"]:
        # The client's address (the sign-in limit's key), scheme and host as the proxies saw
        # them, believing exactly that many X-Forwarded-* hops: more could be forged.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _extensions(app: Flask) -> None:
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


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask("webapp")
    _configure(app, config)
    from webapp import errors, features, security_headers, templating, url_ids
    from webapp.api import errors as api_errors

    features.load_models()
    _extensions(app)

    for blueprint in features.blueprints():
        app.register_blueprint(blueprint)
    for command in features.commands():
        app.cli.add_command(command)
    features.mount(app)
    errors.register(
        app,
        conflicts=features.refusals(),
        elsewhere=[(api_errors.is_api_request, api_errors.from_http)],
    )
    url_ids.register(app)
    templating.register(app)
    security_headers.register(app)
    return app
