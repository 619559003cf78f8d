"""LTI 1.1 launches: a signed POST from the LMS, answered by a redirect to WIMS.

The signature is checked first, against the URL the LMS signed; then the
parameters; then the launch service finds or creates the class, the user and
the activity, and WIMS opens a session the person is redirected to. A
teacher's launch also carries a pass to the class's page of launch URLs
(``views/teacher.py``), at no cost in adm/raw calls.

``/lti/C<n>/links/`` is the one launch that does not go to WIMS: a teacher
of the course gets that page in answer, students are refused.
"""

import logging
import time
from datetime import date

from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from wimslti.i18n import LAUNCH_FORM, _
from wimslti.lti.errors import InvalidLaunchParameters, LaunchForbidden
from wimslti.lti.oauth import LaunchVerifier, SignedRequest
from wimslti.lti.params import LaunchParams, parse_launch
from wimslti.models import Lms, WimsServer
from wimslti.request import UndecodableForm
from wimslti.resources import ClassLinksLaunch, WimsLaunch
from wimslti.services import LaunchService
from wimslti.services.class_links import ClassLinksService
from wimslti.services.launch import LaunchTarget
from wimslti.services.mail import MailService
from wimslti.views.launch_log import log_launch
from wimslti.views.teacher import class_page, give_teacher_pass

log = logging.getLogger(__name__)


@view_defaults(context=WimsLaunch)
class LaunchViews:
    def __init__(self, context: WimsLaunch, request: Request):
        self.context = context
        self.request = request

    @view_config(request_method="POST")
    def launch(self) -> HTTPFound:
        request = self.request
        started = time.monotonic()
        lms, params = verified_launch(request, self.context.server)
        result = request.find_service(LaunchService).launch(
            lms,
            self.context.server,
            params,
            LaunchTarget(self.context.kind, self.context.qitem),
        )
        log_launch(
            request,
            "ok",
            qclass=result.wims_class.qclass,
            role="supervisor" if result.as_supervisor else "participant",
            quser=result.quser,
            new_class=result.created_class,
            ms=round((time.monotonic() - started) * 1000),
        )
        if result.created_class:
            # Sent from a thread of its own: the teacher never waits for SMTP.
            request.find_service(MailService).send_class_credentials(
                result.wims_class, params
            )
        response = HTTPFound(location=result.redirect_url)
        if result.as_supervisor:
            # The teacher may then open the class's page of launch URLs.
            give_teacher_pass(request, response, result.wims_class, params)
        return response

    @view_config(request_method="GET", renderer="lti/get_not_allowed.jinja2")
    @view_config(request_method="HEAD", renderer="lti/get_not_allowed.jinja2")
    def get(self) -> dict:
        return not_a_launch(self.context, self.request)


@view_defaults(context=ClassLinksLaunch)
class ClassLinksLaunchViews:
    def __init__(self, context: ClassLinksLaunch, request: Request):
        self.context = context
        self.request = request

    @view_config(request_method="POST", renderer="teacher/class_page.jinja2")
    def launch(self) -> dict:
        request = self.request
        server = self.context.server
        lms, params = verified_launch(request, server)
        launcher = request.find_service(LaunchService)
        launcher.check_access(lms, server, params)
        if not launcher.is_teacher(params, lms):
            raise LaunchForbidden(
                _(
                    "This activity is for the teachers of the course: it lists "
                    "the worksheets and exams of its WIMS class with their "
                    "launch URLs."
                ),
                detail="links launch by a learner",
            )
        links = request.find_service(ClassLinksService)
        wims_class = links.course_class(lms, server, params.context_id)
        give_teacher_pass(request, request.response, wims_class, params)
        log_launch(
            request, "ok", status=200, qclass=wims_class.qclass, role="teacher page"
        )
        return class_page(request, wims_class)

    @view_config(request_method="GET", renderer="lti/get_not_allowed.jinja2")
    @view_config(request_method="HEAD", renderer="lti/get_not_allowed.jinja2")
    def get(self) -> dict:
        return not_a_launch(self.context, self.request)


def not_a_launch(context: WimsLaunch | ClassLinksLaunch, request: Request) -> dict:
    """Answer a GET of a launch URL: 405, and how to launch it."""
    request.response.status = 405
    request.response.allow = ("POST",)
    return {
        "launch_url": request.resource_url(context),
        "missing_slash": not request.path.endswith("/"),
    }


def verified_launch(request: Request, server: WimsServer) -> tuple[Lms, LaunchParams]:
    """Check the launch's signature, then its parameters; return both.

    :raises LaunchError: for a launch that is not signed, or not usable.
    """
    fields = launch_fields(request)
    form = dict(fields)
    # For the error page of this launch and its language (wimslti.i18n).
    request.environ[LAUNCH_FORM] = form
    request.launch_log.update(
        consumer_key=form.get("oauth_consumer_key", ""),
        context_id=form.get("context_id", ""),
        user_id=form.get("user_id", ""),
        wims=server.id,
        target=request.context.__name__,
    )
    verifier = LaunchVerifier(
        request.dbsession,
        request.registry["dbsession_factory"],
        request.registry.settings["wimslti.oauth_window"],
    )
    lms = verifier.verify(
        SignedRequest(
            url=request.url,
            method="POST",
            params=fields,
            headers=dict(request.headers),
        ),
        # Kept in the environ, which pyramid_retry hands to each attempt.
        used_here=request.environ.setdefault("wimslti.nonces_used", set()),
    )
    request.launch_log["authenticated"] = True
    params = parse_launch(
        form, today=date.today(), max_lifetime_days=server.class_lifetime_days
    )
    return lms, params


def launch_fields(request: Request) -> list[tuple[str, str]]:
    """Return the launch's form fields, in order, as the LMS signed them.

    :raises InvalidLaunchParameters: for a body its charset cannot decode.
    """
    try:
        return list(request.POST.items())
    except (UndecodableForm, UnicodeDecodeError):
        raise InvalidLaunchParameters(
            [_("the launch's form data is not valid UTF-8")]
        ) from None
