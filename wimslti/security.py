"""Who may do what: the admin identity, its principals and the permissions.

An administrator logs in with a password (``views/login.py``); the session
then holds their id and a fingerprint of their password hash, so that a new
password ends every session opened with the old one. Resources say who may
do what in their ``__acl__``; the policy only names the principals.
"""

import enum
import hashlib
import hmac
import logging
import secrets
from typing import Any

from pyramid.authentication import SessionAuthenticationHelper
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.session import SignedCookieSessionFactory

from wimslti.models import AdminUser
from wimslti.services.class_links import teacher_principals

log = logging.getLogger(__name__)

# The principal of every logged-in administrator.
ADMINS = "group:admins"
# An admin session ends after this long without a request.
SESSION_IDLE_TIMEOUT = 2 * 3600
SESSION_COOKIE = "wimslti_session"
_FINGERPRINT_KEY = "admin.fingerprint"


class Permissions(enum.StrEnum):
    """Everything the admin lets a person do, checked against ``__acl__``."""

    # Read the admin pages.
    VIEW = "admin.view"
    # Add records, reload the configuration, test a WIMS connection, change
    # one's own password.
    MANAGE = "admin.manage"
    # Change or retire one record: denied on records a YAML file owns.
    EDIT = "admin.edit"
    # Bring back one retired record.
    RESTORE = "admin.restore"


class AdminSecurityPolicy:
    """Identify administrators from the session; let ACLs decide the rest."""

    def __init__(self, secret: str) -> None:
        self.helper = SessionAuthenticationHelper(prefix="admin.")
        self.acl = ACLHelper()
        self._secret = secret.encode("utf-8")

    def fingerprint(self, user: AdminUser) -> str:
        """Return a value that changes whenever the user's password changes."""
        digest = hmac.new(self._secret, user.password_hash.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def identity(self, request: Request) -> AdminUser | None:
        userid = self.helper.authenticated_userid(request)
        if userid is None:
            return None
        user = request.dbsession.get(AdminUser, userid)
        if user is None:
            return None
        stored = request.session.get(_FINGERPRINT_KEY, "")
        if not hmac.compare_digest(str(stored), self.fingerprint(user)):
            log.debug("admin session of login=%r ended by a new password", user.login)
            return None
        return user

    def authenticated_userid(self, request: Request) -> int | None:
        user = request.identity
        return None if user is None else user.id

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        return self.acl.permits(context, self.principals(request), permission)

    def principals(self, request: Request) -> list[str]:
        # A teacher's pass opens the page of one class (views/teacher.py).
        teacher = teacher_principals(request)
        if request.identity is None:
            return [Everyone, *teacher]
        return [
            Everyone,
            Authenticated,
            ADMINS,
            f"admin:{request.identity.id}",
            *teacher,
        ]

    def remember(self, request: Request, userid: Any, **kw: Any) -> list:
        user = request.dbsession.get(AdminUser, userid)
        request.session[_FINGERPRINT_KEY] = self.fingerprint(user)
        return self.helper.remember(request, userid, **kw)

    def forget(self, request: Request, **kw: Any) -> list:
        request.session.pop(_FINGERPRINT_KEY, None)
        return self.helper.forget(request, **kw)


def session_secret(settings: dict[str, Any]) -> str:
    """Return the configured session secret, or a random one for this process."""
    secret = settings.get("wimslti.session_secret")
    if secret:
        return str(secret)
    log.warning(
        "No wimslti.session_secret (or WIMSLTI_SESSION_SECRET) is set: admin "
        "sessions use a random secret of this process and end when it stops"
    )
    return secrets.token_urlsafe(32)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    secret = session_secret(settings)
    # Separate secrets for the cookie signature and the password fingerprint,
    # both derived from the one setting.
    cookie_secret = hashlib.sha256(b"wimslti.session:" + secret.encode()).hexdigest()
    fingerprint_secret = hashlib.sha256(b"wimslti.admin:" + secret.encode()).hexdigest()
    config.set_session_factory(
        SignedCookieSessionFactory(
            cookie_secret,
            cookie_name=SESSION_COOKIE,
            secure=settings.get("wimslti.session_cookie_secure", True),
            httponly=True,
            samesite="Lax",
            timeout=SESSION_IDLE_TIMEOUT,
            # The cookie is re-signed at most once a minute, not on every read.
            reissue_time=60,
        )
    )
    config.set_security_policy(AdminSecurityPolicy(fingerprint_secret))
