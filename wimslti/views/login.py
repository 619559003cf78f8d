"""Logging administrators in and out, and what a refused admin request gets.

A person who is not logged in and asks for an admin page is sent to the
login page, which brings them back there afterwards. A form sent without
the token of the session (another site's, or an expired page) is refused.
"""

import logging
from typing import Any
from urllib.parse import urlsplit

import deform
from pyramid.csrf import get_csrf_token
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPForbidden, HTTPFound
from pyramid.request import Request
from pyramid.security import forget, remember
from pyramid.view import exception_view_config, forbidden_view_config, view_config

from wimslti.resources import Root
from wimslti.services.admin_user import AdminUserService
from wimslti.views.admin import no_store
from wimslti.views.admin.forms import BaseFormView, login_schema

log = logging.getLogger(__name__)

REFUSED_TEMPLATE = "admin/refused.jinja2"


def admin_url(request: Request) -> str:
    return request.resource_url(request.root, "admin", "")


def safe_target(request: Request, target: str | None) -> str:
    """Return ``target`` if it is a path of this site, else the dashboard."""
    if target:
        parts = urlsplit(target)
        # A path only: "//host/…" and "https://…" would leave the site.
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return request.application_url + target
    return admin_url(request)


@view_config(
    context=Root,
    name="login",
    renderer="login.jinja2",
    require_csrf=True,
)
class LoginForm(BaseFormView):
    title = "Log in to the wimslti admin"
    buttons = (deform.Button("log_in", "Log in"),)

    def schema_factory(self) -> Any:
        return login_schema()

    def __call__(self) -> Any:
        if self.request.identity is not None:
            return HTTPFound(location=self.target())
        return super().__call__()

    def target(self) -> str:
        return safe_target(self.request, self.request.GET.get("came_from"))

    def log_in_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        service = self.request.find_service(AdminUserService)
        user = service.authenticate(appstruct["login"], appstruct["password"])
        if user is None:
            self.refuse(
                {"login": appstruct["login"], "csrf_token": appstruct["csrf_token"]},
                "Wrong login or password.",
            )
        # A new session on login, so that a session planted before it is
        # worth nothing after it; the CSRF token changes with it.
        self.request.session.invalidate()
        headers = remember(self.request, user.id)
        return HTTPFound(location=self.target(), headers=headers)


@view_config(
    context=Root, name="logout", request_method="GET", renderer="admin/logout.jinja2"
)
def logout_page(request: Request) -> dict:
    no_store(request)
    return {"csrf_token": get_csrf_token(request)}


@view_config(context=Root, name="logout", request_method="POST", require_csrf=True)
def logout(request: Request) -> HTTPFound:
    user = request.identity
    headers = forget(request)
    request.session.invalidate()
    if user is not None:
        log.info("Admin login=%r logged out", user.login)
    return HTTPFound(
        location=request.resource_url(request.root, "login"), headers=headers
    )


@forbidden_view_config(renderer=REFUSED_TEMPLATE)
def forbidden(error: HTTPForbidden, request: Request) -> Any:
    """Send a visitor to the login page; tell an administrator what is refused."""
    no_store(request)
    if request.identity is None:
        # Only a page can be asked for again after the login, not a POST.
        query = {"came_from": request.path_qs} if request.method == "GET" else {}
        return HTTPFound(
            location=request.resource_url(request.root, "login", query=query)
        )
    request.response.status = 403
    return {"title": "Not allowed", "message": _refusal(request)}


def _refusal(request: Request) -> str:
    context = request.context
    record = getattr(context, "record", None)
    if record is not None and getattr(record, "retired_at", None) is not None:
        return "This record is retired: restore it before changing it."
    if record is not None and getattr(context, "owned_by_file", False):
        return (
            f"This record is declared in {record.source_file}: change it in that "
            "file, then reload the configuration."
        )
    return "You may not do this here."


@exception_view_config(BadCSRFToken, renderer=REFUSED_TEMPLATE)
@exception_view_config(BadCSRFOrigin, renderer=REFUSED_TEMPLATE)
def bad_csrf(error: Exception, request: Request) -> dict:
    log.info(
        "Refused a %s to %s without a valid CSRF token (%s)",
        request.method,
        request.path,
        type(error).__name__,
    )
    no_store(request)
    request.response.status = 400
    return {
        "title": "Form refused",
        "message": (
            "This form was not sent from a page of this site, or it has expired. "
            "Go back, reload the page and send the form again."
        ),
    }
