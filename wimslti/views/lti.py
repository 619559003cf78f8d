"""LTI 1.1 launches: a signed POST from the LMS, answered by a redirect to WIMS.

The signature is checked first, against the URL the LMS signed; then the
parameters; then the launch service finds or creates the class, the user and
the activity, and WIMS opens a session the person is redirected to.
"""

import logging
import time
from datetime import date

from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.view import view_config, view_defaults

from wimslti.lti.errors import InvalidLaunchParameters
from wimslti.lti.oauth import LaunchVerifier, SignedRequest
from wimslti.lti.params import parse_launch
from wimslti.resources import WimsLaunch
from wimslti.services import LaunchService
from wimslti.services.launch import LaunchTarget
from wimslti.services.mail import MailService
from wimslti.views.launch_log import log_launch

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
        fields = launch_fields(request)
        form = dict(fields)
        request.environ["wimslti.launch_form"] = form
        request.launch_log.update(
            consumer_key=form.get("oauth_consumer_key", ""),
            context_id=form.get("context_id", ""),
            user_id=form.get("user_id", ""),
            wims=self.context.server.id,
            target=self.context.__name__,
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
            form,
            today=date.today(),
            max_lifetime_days=self.context.server.class_lifetime_days,
        )
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
        return HTTPFound(location=result.redirect_url)

    @view_config(request_method="GET", renderer="lti/get_not_allowed.jinja2")
    @view_config(request_method="HEAD", renderer="lti/get_not_allowed.jinja2")
    def get(self) -> dict:
        request = self.request
        request.response.status = 405
        request.response.allow = ("POST",)
        launch_url = request.resource_url(self.context)
        return {
            "launch_url": launch_url,
            "missing_slash": not request.path.endswith("/"),
        }


def launch_fields(request: Request) -> list[tuple[str, str]]:
    """Return the launch's form fields, in order, as the LMS signed them.

    :raises InvalidLaunchParameters: for a body that is not UTF-8 form data.
    """
    try:
        return list(request.POST.items())
    except UnicodeDecodeError:
        raise InvalidLaunchParameters(
            ["the launch's form data is not valid UTF-8"]
        ) from None
