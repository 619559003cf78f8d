"""The diagnostic launch: ``/lti/test/`` shows what a launch carries.

Any LMS may launch it, with any key. The page lists every parameter
received (the signature and anything named secret hidden), the
``tool_consumer_instance_guid`` to declare, and what the gateway would
decide for a real launch: key, GUID, signature — with the likely cause when
it fails —, clock offset, nonce and parameters. Nothing is created in WIMS
and nothing is recorded: not even the nonce.
"""

import logging
from urllib.parse import unquote_to_bytes

from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config, view_defaults

from wimslti.i18n import LAUNCH_FORM
from wimslti.lti.diagnosis import Diagnosis, LaunchDiagnosis, ProxyContext
from wimslti.lti.oauth import SignedRequest
from wimslti.resources import DiagnosticLaunch

log = logging.getLogger(__name__)


@view_defaults(context=DiagnosticLaunch, permission=NO_PERMISSION_REQUIRED)
class DiagnosticViews:
    def __init__(self, context: DiagnosticLaunch, request: Request):
        self.context = context
        self.request = request

    @view_config(request_method="POST", renderer="diagnostic/report.jinja2")
    def launch(self) -> dict:
        request = self.request
        fields = list(request.POST.items())
        # The page speaks the launch's language (wimslti.i18n).
        request.environ[LAUNCH_FORM] = dict(fields)
        settings = request.registry.settings
        diagnosis = LaunchDiagnosis(
            request.dbsession,
            settings["wimslti.oauth_window"],
            settings["wimslti.teacher_roles"],
        ).diagnose(
            SignedRequest(
                url=request.url,
                method="POST",
                params=fields,
                headers=dict(request.headers),
            ),
            ProxyContext(
                peer_trusted=request.remote_addr in settings["wimslti.trusted_proxies"],
                public_url=settings["wimslti.public_url"],
            ),
            utf8=is_utf8_form(request.body),
        )
        _log_diagnosis(diagnosis)
        return {
            "diagnosis": diagnosis,
            "launch_urls": [
                (server, request.resource_url(request.root, "lti", f"C{server.id}", ""))
                for server in diagnosis.servers
            ],
            "links_url": request.resource_url(request.root, "links", ""),
        }

    @view_config(request_method=("GET", "HEAD"), renderer="diagnostic/help.jinja2")
    def help(self) -> dict:
        request = self.request
        return {
            "diagnostic_url": request.resource_url(self.context),
            "links_url": request.resource_url(request.root, "links", ""),
        }


def is_utf8_form(body: bytes) -> bool:
    """Tell whether every name and value of a form body is UTF-8."""
    try:
        for pair in body.split(b"&"):
            for part in pair.split(b"="):
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _log_diagnosis(diagnosis: Diagnosis) -> None:
    refusal = diagnosis.refusal
    log.info(
        "diagnostic launch key=%r known=%s signature=%s offset=%s would=%s",
        diagnosis.consumer_key,
        diagnosis.lms is not None,
        "ok" if diagnosis.authenticated else "failed",
        diagnosis.offset,
        "accept" if refusal is None else f"refuse ({refusal.name})",
    )
