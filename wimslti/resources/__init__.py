"""The traversal tree: which object a URL path names.

``/lti/C<n>/`` is a launch into WIMS server n, ``/lti/C<n>/S<m>/`` into its
worksheet m, ``/lti/C<n>/E<m>/`` into its exam m: the URL scheme of the Django
WIMS-LTI, so that activities made for it keep working. ``/lti/test/`` is the
diagnostic launch and ``/links/`` the public page of launch URLs.

``/lti/C<n>/links/`` is a teacher's launch that shows the course's class page
instead of entering WIMS; ``/lti/C<n>/classes/<id>/`` is that page, open to
the class's teachers (with the pass a teacher launch gives) and to admins.
"""

from typing import Any

from pyramid.authorization import DENY_ALL, Allow
from pyramid.config import Configurator
from pyramid.request import Request

from wimslti.models import ActivityKind, WimsClass, WimsServer
from wimslti.resources.admin import AdminRoot
from wimslti.security import ADMINS
from wimslti.services.class_links import SEE_CLASS_LINKS, teacher_principal


class Resource:
    """A location-aware node of the tree."""

    __name__: str = ""
    __parent__: Any = None

    def __init__(self, request: Request, name: str = "", parent: Any = None):
        self.request = request
        self.__name__ = name
        self.__parent__ = parent


class Root(Resource):
    def __getitem__(self, name: str) -> "Resource | AdminRoot":
        if name == "lti":
            return LtiRoot(self.request, name, self)
        if name == "links":
            return LinksPage(self.request, name, self)
        if name == "admin":
            return AdminRoot(self.request, name, self)
        raise KeyError(name)


class LinksPage(Resource):
    """The public page of launch URLs, per LMS and WIMS server."""


class LtiRoot(Resource):
    def __getitem__(self, name: str) -> Resource:
        if name == "test":
            return DiagnosticLaunch(self.request, name, self)
        number = _number(name, "C")
        if number is None:
            raise KeyError(name)
        server = self.request.dbsession.get(WimsServer, number)
        if server is None:
            raise KeyError(name)
        return WimsLaunch(self.request, name, self, server)


class DiagnosticLaunch(Resource):
    """``/lti/test/``: a launch that shows what the gateway received and decides."""


class WimsLaunch(Resource):
    """A class launch: the WIMS class of the LMS course on this server."""

    kind: ActivityKind | None = None
    qitem: int | None = None

    def __init__(self, request: Request, name: str, parent: Any, server: WimsServer):
        super().__init__(request, name, parent)
        self.server = server

    def __getitem__(self, name: str) -> Resource:
        if name == "links":
            return ClassLinksLaunch(self.request, name, self, self.server)
        if name == "classes":
            return ClassPages(self.request, name, self, self.server)
        for prefix, launch_class in (("S", SheetLaunch), ("E", ExamLaunch)):
            number = _number(name, prefix)
            if number is not None:
                return launch_class(self.request, name, self, self.server, number)
        raise KeyError(name)


class ActivityLaunch(WimsLaunch):
    """A launch into one worksheet or exam of the course's class."""

    def __init__(
        self, request: Request, name: str, parent: Any, server: WimsServer, qitem: int
    ):
        super().__init__(request, name, parent, server)
        self.qitem = qitem

    def __getitem__(self, name: str) -> Resource:
        raise KeyError(name)


class SheetLaunch(ActivityLaunch):
    kind = ActivityKind.SHEET


class ExamLaunch(ActivityLaunch):
    kind = ActivityKind.EXAM


class ClassLinksLaunch(Resource):
    """A teacher's launch that opens the course's class page, not WIMS."""

    def __init__(self, request: Request, name: str, parent: Any, server: WimsServer):
        super().__init__(request, name, parent)
        self.server = server


class ClassPages(Resource):
    """The class pages of one WIMS server; the container itself shows nothing."""

    def __init__(self, request: Request, name: str, parent: Any, server: WimsServer):
        super().__init__(request, name, parent)
        self.server = server

    def __getitem__(self, name: str) -> "ClassLinksPage":
        number = int(name) if name.isdigit() and len(name) < 10 else None
        record = (
            None if number is None else self.request.dbsession.get(WimsClass, number)
        )
        if record is None or record.wims_server_id != self.server.id:
            raise KeyError(name)
        return ClassLinksPage(self.request, name, self, record)


class ClassLinksPage(Resource):
    """A class's worksheets and exams with their launch URLs."""

    def __init__(self, request: Request, name: str, parent: Any, record: WimsClass):
        super().__init__(request, name, parent)
        self.record = record

    @property
    def __acl__(self) -> list:
        return [
            (Allow, ADMINS, SEE_CLASS_LINKS),
            (Allow, teacher_principal(self.record.id), SEE_CLASS_LINKS),
            DENY_ALL,
        ]


def _number(name: str, prefix: str) -> int | None:
    """Return n for a segment ``<prefix><n>``, else None."""
    digits = name[len(prefix) :]
    if name.startswith(prefix) and digits.isdigit() and len(digits) < 10:
        return int(digits)
    return None


def root_factory(request: Request) -> Root:
    return Root(request)


def includeme(config: Configurator) -> None:
    config.set_root_factory(root_factory)
