"""Administrators of the web admin: creation, passwords, login checks.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106's
second recommended set); a hash made with older parameters is replaced at
the next successful login.
"""

import logging
import re

import argon2
import sqlalchemy as sa
from sqlalchemy.orm import Session

from wimslti.models import AdminUser
from wimslti.schemas.declarations import column_length

log = logging.getLogger(__name__)

LOGIN_MAX = column_length(AdminUser.__table__.c.login)
PASSWORD_MIN = 12
# Far above any real password, low enough that hashing stays cheap.
PASSWORD_MAX = 1024
LOGIN_PATTERN = re.compile(r"[A-Za-z0-9._@-]+")

_hasher = argon2.PasswordHasher()
# Verified when the login is unknown, so that the answer takes as long as
# for a known login with a wrong password.
_DUMMY_HASH = _hasher.hash("not the password of anybody")


class AdminUserError(Exception):
    """An administrator cannot be created or changed; the message says why."""


def check_login(login: str) -> None:
    """:raises AdminUserError: for a login the admin cannot use."""
    if not login or len(login) > LOGIN_MAX or not LOGIN_PATTERN.fullmatch(login):
        raise AdminUserError(
            f"a login is 1 to {LOGIN_MAX} letters, digits, '.', '_', '@' or '-'"
        )


def check_password(password: str) -> None:
    """:raises AdminUserError: for a password too short or too long."""
    if len(password) < PASSWORD_MIN:
        raise AdminUserError(
            f"the password must be at least {PASSWORD_MIN} characters long"
        )
    if len(password) > PASSWORD_MAX:
        raise AdminUserError(
            f"the password must be at most {PASSWORD_MAX} characters long"
        )


class AdminUserService:
    """Find, create and authenticate administrators."""

    def __init__(self, dbsession: Session) -> None:
        self.dbsession = dbsession

    def by_login(self, login: str) -> AdminUser | None:
        query = sa.select(AdminUser).where(AdminUser.login == login)
        return self.dbsession.scalars(query).one_or_none()

    def create(self, login: str, password: str) -> AdminUser:
        """Create the administrator ``login``.

        :raises AdminUserError: for a bad login or password, or a login taken.
        """
        check_login(login)
        check_password(password)
        if self.by_login(login) is not None:
            raise AdminUserError(
                f"the administrator {login} exists already: use set-password to "
                "give them a new password"
            )
        user = AdminUser(login=login, password_hash=_hasher.hash(password))
        self.dbsession.add(user)
        self.dbsession.flush()
        log.info("Created the administrator login=%r", login)
        return user

    def set_password(self, login: str, password: str) -> AdminUser:
        """Give ``login`` a new password.

        :raises AdminUserError: for an unknown login or a bad password.
        """
        user = self.by_login(login)
        if user is None:
            raise AdminUserError(f"there is no administrator {login}")
        check_password(password)
        user.password_hash = _hasher.hash(password)
        self.dbsession.flush()
        log.info("Changed the password of the administrator login=%r", login)
        return user

    def authenticate(self, login: str, password: str) -> AdminUser | None:
        """Return the administrator whose login and password these are, or None."""
        user = self.by_login(login) if len(login) <= LOGIN_MAX else None
        if len(password) > PASSWORD_MAX:
            return None
        verified: bool
        try:
            verified = _hasher.verify(
                user.password_hash if user else _DUMMY_HASH, password
            )
        except argon2.exceptions.VerificationError:
            verified = False
        except argon2.exceptions.InvalidHashError:
            log.warning("The password hash of login=%r is not an argon2 hash", login)
            return None
        if user is None:
            # Not the login itself: people type their password there too.
            log.info("Admin login refused: no such administrator")
            return None
        if not verified:
            log.info("Admin login refused for login=%r: wrong password", login)
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        log.info("Admin login=%r logged in", login)
        return user


def factory(context, request) -> AdminUserService:
    return AdminUserService(request.dbsession)
