"""Error pages a person can act on, and the launch log line of a failure.

An authenticated launch that fails is sent back to the LMS's
``launch_presentation_return_url`` with ``lti_errormsg`` (and ``lti_errorlog``
for the administrator), as LTI 1.1 asks; anything else gets an HTML page.
The page and ``lti_errormsg`` speak the person's language (``wimslti.i18n``);
``lti_errorlog`` and the log stay in English.
"""

import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.request import Request
from pyramid.view import exception_view_config, notfound_view_config

from wimslti.i18n import LAUNCH_FORM, _, translate
from wimslti.lti.errors import LaunchError
from wimslti.lti.params import return_url_of
from wimslti.request import UndecodableForm
from wimslti.views.launch_log import log_launch
from wimslti.wims import (
    ClassNotConnected,
    IdentificationFailure,
    WimsError,
    WimsRefused,
    WimsTimeout,
    WimsUnavailable,
)

log = logging.getLogger(__name__)

ERROR_TEMPLATE = "errors/error.jinja2"


@exception_view_config(LaunchError, renderer=ERROR_TEMPLATE)
def launch_error(error: LaunchError, request: Request):
    log_launch(
        request, "refused", status=error.status, why=error.detail or error.message
    )
    return _answer(
        request,
        error.status,
        error.shown(request.localizer),
        error.detail,
        error.authenticated,
    )


@exception_view_config(WimsError, renderer=ERROR_TEMPLATE)
def wims_error(error: WimsError, request: Request):
    status, message = wims_error_page(error)
    log_launch(
        request,
        "failed",
        status=status,
        why=f"{type(error).__name__} on {error.job}: {error.message}",
    )
    authenticated = bool(request.launch_log.get("authenticated"))
    return _answer(
        request,
        status,
        translate(message, request.localizer),
        f"WIMS: {error.message}",
        authenticated,
    )


def wims_error_page(error: WimsError) -> tuple[int, str]:
    """Return the status and the words (a translation string) for a WIMS failure."""
    if isinstance(error, WimsTimeout):
        return 504, _(
            "WIMS did not answer in time. If this was the first launch of a "
            "course, WIMS may still be creating its class: wait a minute and "
            "launch the activity again."
        )
    if isinstance(error, WimsUnavailable):
        return 503, _("WIMS is busy or cannot be reached right now; try again soon.")
    if isinstance(error, IdentificationFailure | ClassNotConnected):
        # Nothing the person can do: the gateway's declaration and the WIMS
        # connection file disagree.
        return 502, _(
            "This WIMS server does not let the gateway in (${message}). Tell "
            "the gateway's administrator: the WIMS connection file and the "
            "gateway's declaration of this server disagree.",
            mapping={"message": error.message},
        )
    if isinstance(error, WimsRefused):
        return 502, _(
            "WIMS refused the request: ${message}", mapping={"message": error.message}
        )
    return 502, _("WIMS gave an answer the gateway could not understand.")


@notfound_view_config(renderer=ERROR_TEMPLATE)
def not_found(error: HTTPNotFound, request: Request):
    request.response.status = 404
    message = _("There is nothing at this address.")
    parts = [part for part in request.path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "lti" and parts[1][:1] == "C":
        message = _(
            "This gateway has no WIMS server, class, worksheet or exam at "
            "${path}. Check the launch URL of the activity.",
            mapping={"path": request.path},
        )
        log_launch(request, "refused", status=404, why="unknown launch URL")
    return {
        "status": 404,
        "message": translate(message, request.localizer),
        "reference": request.correlation_id,
    }


@exception_view_config(UndecodableForm, renderer=ERROR_TEMPLATE)
def undecodable_form(error: UndecodableForm, request: Request):
    request.response.status = 400
    message = _("The form's data cannot be read in the character set it declares.")
    return {
        "status": 400,
        "message": translate(message, request.localizer),
        "reference": request.correlation_id,
    }


@exception_view_config(Exception, renderer=ERROR_TEMPLATE)
def unexpected_error(error: Exception, request: Request):
    log.exception("unexpected error ref=%s", request.correlation_id)
    if request.launch_log:
        log_launch(request, "failed", status=500, why=type(error).__name__)
    request.response.status = 500
    message = _(
        "Something went wrong in the gateway. The administrator can find what "
        "happened in its log with the reference below."
    )
    return {
        "status": 500,
        "message": translate(message, request.localizer),
        "reference": request.correlation_id,
    }


def _answer(
    request: Request, status: int, message: str, detail: str, authenticated: bool
):
    form = request.environ.get(LAUNCH_FORM, {})
    return_url = return_url_of(form) if authenticated else ""
    if return_url and len(return_url) <= MAX_RETURN_URL:
        return HTTPFound(location=with_error(return_url, message, detail))
    request.response.status = status
    return {"status": status, "message": message, "reference": request.correlation_id}


# Longer return URLs get the page instead: a Location header that long is
# refused by browsers and proxies.
MAX_RETURN_URL = 4096


def with_error(return_url: str, message: str, detail: str) -> str:
    """Add ``lti_errormsg`` and ``lti_errorlog`` to the query of ``return_url``."""
    scheme, netloc, path, query, fragment = urlsplit(return_url)
    added = urlencode({"lti_errormsg": message, "lti_errorlog": detail})
    query = f"{query}&{added}" if query else added
    return urlunsplit((scheme, netloc, path, query, fragment))
