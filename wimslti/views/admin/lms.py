"""The LMS records: list, show, add and edit (retire is in ``records``).

An LMS that a YAML file declares is shown read-only with the file it comes
from; the secret of an LMS is never shown, only replaced.
"""

import logging
from typing import Any

from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config, view_defaults

from wimslti.resources.admin import LmsContainer, LmsResource
from wimslti.security import Permissions
from wimslti.services.admin import AdminService
from wimslti.views.admin import AdminViews
from wimslti.views.admin.forms import (
    FORM_TEMPLATE,
    BaseFormView,
    lms_appstruct,
    lms_schema,
)

log = logging.getLogger(__name__)


@view_defaults(permission=Permissions.VIEW)
class LmsViews(AdminViews):
    @view_config(context=LmsContainer, renderer="admin/lms_list.jinja2")
    def index(self) -> dict:
        return {"records": self.context.records()}

    @view_config(context=LmsResource, renderer="admin/lms_show.jinja2")
    def show(self) -> dict:
        service = self.request.find_service(AdminService)
        return {"lms": self.context.record, "usage": service.usage(self.context.record)}


@view_config(
    context=LmsContainer,
    name="add",
    permission=Permissions.MANAGE,
    renderer=FORM_TEMPLATE,
    require_csrf=True,
)
class LmsAddForm(BaseFormView):
    title = "Add an LMS"

    def schema_factory(self) -> Any:
        return lms_schema(adding=True)

    def save_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        lms = self.request.find_service(AdminService).add_lms(appstruct)
        self.request.session.flash(f"Added the LMS {lms.name}.", "info")
        return HTTPFound(location=self.request.resource_url(self.context, lms.id))


@view_config(
    context=LmsResource,
    name="edit",
    permission=Permissions.EDIT,
    renderer=FORM_TEMPLATE,
    require_csrf=True,
)
class LmsEditForm(BaseFormView):
    context: LmsResource

    def get_title(self) -> str:
        return f"Edit the LMS {self.context.record.name}"

    def schema_factory(self) -> Any:
        return lms_schema(adding=False)

    def appstruct(self) -> dict[str, Any]:
        return lms_appstruct(self.context.record)

    def save_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        service = self.request.find_service(AdminService)
        changed = service.update_lms(self.context.record, appstruct)
        self.request.session.flash(
            f"Saved the LMS {self.context.record.name}"
            + (f" (changed: {', '.join(changed)})." if changed else ": no change."),
            "info",
        )
        return HTTPFound(location=self.request.resource_url(self.context))
