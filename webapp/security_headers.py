"""Security headers on every response: a Content-Security-Policy without inline scripts,
and the usual companions.

Our pages load one script (htmx, vendored) and one stylesheet from /static, and carry no
inline script, style or event handler (tests/contracts/test_security_headers.py keeps it so), so
the policy allows only 'self', on every page without exception. A handful of constant headers
does not call for Flask-Talisman, whose forced HTTPS and cookie settings would duplicate what
the configuration already sets per deployment.
"""

from flask import Flask

# The hash of the empty string. The service page's htmx swaps make Chromium apply an empty
# inline style (the browser test saw each refused on the console); allowing exactly that
# leaves every inline style with content blocked.
EMPTY_STYLE = "'unsafe-hashes' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": f"'self' {EMPTY_STYLE}",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _header(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


def register(app: Flask) -> None:
    policy = _header(POLICY)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS: tell browsers to stay
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
