"""The class page: a class's worksheets and exams and their launch URLs.

``/lti/C<n>/classes/<id>/`` lists, for the class's teachers and for admins,
the worksheets and exams WIMS has for the class, their state, the launch URL
of each to paste into a new LMS activity, and which ones send grades back.

A teacher gets there from the LMS: every teacher launch of the course gives
the browser a pass to the page (a signed cookie naming the class and the
teacher, for two hours), and the teacher's launch ``/lti/C<n>/links/`` shows
the page in answer (``views/lti.py``). The LMS shows launches in an iframe
of its own site, so the cookie is ``SameSite=None`` (hence ``Secure``, which
browsers demand with it) over https; over plain http, for a gateway tried
on 127.0.0.1, it is ``Lax``. It is ``HttpOnly`` and its path is the class
page's alone. Where the browser refuses cookies in iframes, the links
launch still shows the page: only the reload from the page needs the pass.
"""

import logging
from urllib.parse import urlsplit

from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config, view_defaults

from wimslti.i18n import _, translate
from wimslti.lti.params import LaunchParams
from wimslti.models import WimsClass
from wimslti.resources import ClassLinksPage
from wimslti.services.class_links import (
    SEE_CLASS_LINKS,
    TEACHER_COOKIE,
    TEACHER_PASS_SECONDS,
    ClassLinksService,
    find_teacher_pass,
)
from wimslti.views.admin import no_store

log = logging.getLogger(__name__)

PAGE_TEMPLATE = "teacher/class_page.jinja2"


@view_defaults(context=ClassLinksPage, permission=NO_PERMISSION_REQUIRED)
class ClassPageViews:
    def __init__(self, context: ClassLinksPage, request: Request):
        self.context = context
        self.request = request

    @view_config(request_method=("GET", "HEAD"), renderer=PAGE_TEMPLATE)
    def show(self) -> dict:
        request = self.request
        wims_class = self.context.record
        # Checked here rather than by the view's permission: a teacher whose
        # pass has expired is told how to get a new one, where the forbidden
        # view would send them to the admin login.
        if not request.has_permission(SEE_CLASS_LINKS, self.context):
            log.info("class page of class %s refused: no pass", wims_class.qclass)
            return self._refused(wims_class)
        log.info("class page of class %s shown", wims_class.qclass)
        return class_page(request, wims_class)

    def _refused(self, wims_class: WimsClass) -> dict:
        request = self.request
        no_store(request)
        request.override_renderer = "errors/error.jinja2"
        request.response.status = 403
        links_url = request.resource_url(
            self.context.__parent__.__parent__, "links", ""
        )
        message = _(
            "This page is for the teachers of the course. Open the course's "
            "activity whose launch URL is ${url} in the LMS to see it; an "
            "administrator logs in to the gateway's admin first.",
            mapping={"url": links_url},
        )
        return {
            "status": 403,
            "message": translate(message, request.localizer),
            "reference": request.correlation_id,
        }


def class_page(request: Request, wims_class: WimsClass) -> dict:
    """Return what the class page shows; asks WIMS for the class's items."""
    no_store(request)
    server_url = request.resource_url(
        request.root, "lti", f"C{wims_class.wims_server_id}", ""
    )
    return {
        "wims_class": wims_class,
        "class_items": request.find_service(ClassLinksService).items(wims_class),
        "class_launch_url": server_url,
        "links_launch_url": f"{server_url}links/",
        "page_url": class_page_url(request, wims_class),
        "pass_hours": TEACHER_PASS_SECONDS // 3600,
    }


def class_page_url(request: Request, wims_class: WimsClass) -> str:
    return request.resource_url(
        request.root,
        "lti",
        f"C{wims_class.wims_server_id}",
        "classes",
        str(wims_class.id),
        "",
    )


def give_teacher_pass(
    request: Request, response: Response, wims_class: WimsClass, params: LaunchParams
) -> None:
    """Let the teacher of ``params`` open the page of ``wims_class`` for a while."""
    value = find_teacher_pass(request).issue(wims_class.id, params.person.user_id)
    secure = request.scheme == "https"
    response.set_cookie(
        TEACHER_COOKIE,
        value,
        max_age=TEACHER_PASS_SECONDS,
        # The page's path without its slash: the cookie goes with
        # ".../classes/5" and ".../classes/5/", not with ".../classes/51/".
        path=urlsplit(class_page_url(request, wims_class)).path.rstrip("/"),
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
    )
