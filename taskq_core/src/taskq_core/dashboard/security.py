"""Who may use the dashboard: the bind rule, authentication and CSRF protection.

The dashboard can requeue and purge DEAD messages, so it is private by default: it listens on
loopback, and any other address needs a bearer token or basic-auth credentials
(:func:`check_bind`). With a token, a browser opens ``/?token=<token>`` once; the dashboard
answers with a session cookie holding an HMAC of the token (never the token itself) and
redirects to the same page without it, so the token does not stay in the address bar or
history.

Every POST carries a per-session CSRF token twice: in a ``SameSite=Strict`` cookie and in a
form field (the double-submit pattern). A request from another site can send neither, so a
POST whose field is missing or differs from the cookie is refused with 403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.datastructures import URL
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from taskq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from starlette.middleware.base import RequestResponseEndpoint
    from starlette.requests import Request
    from starlette.types import ASGIApp

#: Cookie holding the HMAC of the bearer token once a browser has presented it.
SESSION_COOKIE = "taskq_session"
#: Cookie and form field of the CSRF token.
CSRF_COOKIE = "taskq_csrf"
CSRF_FIELD = "csrf_token"
#: Query parameter a browser presents the bearer token in, once.
TOKEN_PARAM = "token"

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class Credentials:
    """What a request must present when the dashboard is not loopback-only.

    Attributes:
        token: Bearer token (``Authorization: Bearer``, or once as ``?token=``), or ``None``.
        basic: ``(user, password)`` for HTTP basic auth, or ``None``.
    """

    token: str | None = None
    basic: tuple[str, str] | None = None

    @property
    def required(self) -> bool:
        """Whether any credential is configured (then every request must present one)."""
        return self.token is not None or self.basic is not None

    @classmethod
    def parse(cls, token: str | None, basic: str | None) -> Credentials:
        """Credentials from the CLI's ``--auth-token`` and ``--basic-auth user:pass``.

        Raises:
            ConfigurationError: an empty token, or basic auth without ``:`` or a password.
        """
        if token is not None and not token:
            raise ConfigurationError("--auth-token must not be empty")
        pair = None
        if basic is not None:
            user, sep, password = basic.partition(":")
            if not sep or not user or not password:
                raise ConfigurationError("--basic-auth must look like USER:PASSWORD")
            pair = (user, password)
        return cls(token=token, basic=pair)

    def session_value(self) -> str:
        """The session cookie's value: an HMAC of the token, so the cookie never holds it."""
        assert self.token is not None
        key = self.token.encode()
        return hmac.new(key, b"taskq-dashboard-session", hashlib.sha256).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only listens on this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, credentials: Credentials) -> None:
    """Refuse to listen beyond loopback without credentials.

    Raises:
        ConfigurationError: ``host`` is not loopback and no token or basic auth is set.
    """
    if not is_loopback(host) and not credentials.required:
        raise ConfigurationError(
            f"refusing to serve the dashboard on {host} without authentication: "
            "set --auth-token or --basic-auth (or bind to 127.0.0.1)"
        )


class AuthMiddleware(BaseHTTPMiddleware):
    """Answer 401 to every request without valid credentials (when any are configured)."""

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        super().__init__(app)
        self.credentials = credentials

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Pass an authenticated request on; trade a valid ``?token=`` for a session cookie."""
        if not self.credentials.required:
            return await call_next(request)
        presented = request.query_params.get(TOKEN_PARAM)
        if presented is not None and self._token_matches(presented):
            return self._start_session(request)
        if self._authenticated(request):
            return await call_next(request)
        response = PlainTextResponse("authentication required", status_code=401)
        if self.credentials.basic is not None:
            response.headers["WWW-Authenticate"] = 'Basic realm="taskq dashboard"'
        return response

    def _authenticated(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._token_matches(value.strip()):
            return True
        if scheme.lower() == "basic" and self._basic_matches(value.strip()):
            return True
        session = request.cookies.get(SESSION_COOKIE)
        return (
            self.credentials.token is not None
            and session is not None
            and hmac.compare_digest(session, self.credentials.session_value())
        )

    def _token_matches(self, presented: str) -> bool:
        token = self.credentials.token
        return token is not None and hmac.compare_digest(presented.encode(), token.encode())

    def _basic_matches(self, encoded: str) -> bool:
        if self.credentials.basic is None:
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        want_user, want_password = self.credentials.basic
        user_ok = hmac.compare_digest(user.encode(), want_user.encode())
        return hmac.compare_digest(password.encode(), want_password.encode()) and user_ok

    def _start_session(self, request: Request) -> Response:
        clean = URL(str(request.url)).remove_query_params(TOKEN_PARAM)
        response = RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), 303)
        response.set_cookie(
            SESSION_COOKIE,
            self.credentials.session_value(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response


def csrf_token(request: Request) -> str:
    """The session's CSRF token: the cookie's, or a fresh one the response must set."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    fresh = getattr(request.state, "csrf_new", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.csrf_new = fresh
    return str(fresh)


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on ``response`` when :func:`csrf_token` made a new one."""
    fresh = getattr(request.state, "csrf_new", None)
    if fresh is not None:
        response.set_cookie(
            CSRF_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


async def csrf_ok(request: Request) -> bool:
    """Whether a POST's form field carries the same CSRF token as its cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    form = await request.form()
    field = form.get(CSRF_FIELD)
    if not cookie or not isinstance(field, str) or not field:
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())
