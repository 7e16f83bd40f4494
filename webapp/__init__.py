"""The operations dashboard for managed service providers.

`create_app` lives in webapp.app and is loaded on first use, so importing the pure domain
(webapp.lifecycle) loads no framework.
"""


def __getattr__(name: str):
    if name in ("create_app", "ConfigurationError"):
        from webapp import app

        return getattr(app, name)
    raise AttributeError(f"module 'webapp' has no attribute {name!r}")
