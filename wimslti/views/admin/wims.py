"""The WIMS server records: list, show, add, edit and test the connection.

A server that a YAML file declares is shown read-only with the file it comes
from; its ``passwd`` is never shown, only replaced. "Test connection" sends
adm/raw ``checkident`` and shows WIMS's answer in its own words.
"""

import logging
from typing import Any

from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config, view_defaults

from wimslti.resources.admin import WimsContainer, WimsResource
from wimslti.security import Permissions
from wimslti.services.admin import AdminService
from wimslti.views.admin import AdminViews
from wimslti.views.admin.forms import (
    FORM_TEMPLATE,
    BaseFormView,
    wims_appstruct,
    wims_schema,
)

log = logging.getLogger(__name__)


@view_defaults(permission=Permissions.VIEW)
class WimsViews(AdminViews):
    @view_config(context=WimsContainer, renderer="admin/wims_list.jinja2")
    def index(self) -> dict:
        return {"records": self.context.records()}

    @view_config(context=WimsResource, renderer="admin/wims_show.jinja2")
    def show(self) -> dict:
        service = self.request.find_service(AdminService)
        server = self.context.record
        return {
            "server": server,
            "usage": service.usage(server),
            "launch_url": self.request.resource_url(
                self.request.root, "lti", f"C{server.id}", ""
            ),
        }

    @view_config(
        context=WimsResource,
        name="test-connection",
        request_method="POST",
        permission=Permissions.MANAGE,
        require_csrf=True,
    )
    def test_connection(self) -> HTTPFound:
        service = self.request.find_service(AdminService)
        result = service.test_connection(self.context.record)
        queue = "info" if result.ok else "error"
        verdict = "accepted" if result.ok else "refused or failed"
        self.request.session.flash(
            f"Connection test {verdict}. WIMS answered: {result.message}", queue
        )
        return HTTPFound(location=self.request.resource_url(self.context))


@view_config(
    context=WimsContainer,
    name="add",
    permission=Permissions.MANAGE,
    renderer=FORM_TEMPLATE,
    require_csrf=True,
)
class WimsAddForm(BaseFormView):
    title = "Add a WIMS server"

    def schema_factory(self) -> Any:
        return wims_schema(adding=True)

    def save_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        server = self.request.find_service(AdminService).add_wims(appstruct)
        self.request.session.flash(
            f"Added the WIMS server {server.id} {server.name}.", "info"
        )
        return HTTPFound(location=self.request.resource_url(self.context, server.id))


@view_config(
    context=WimsResource,
    name="edit",
    permission=Permissions.EDIT,
    renderer=FORM_TEMPLATE,
    require_csrf=True,
)
class WimsEditForm(BaseFormView):
    context: WimsResource

    def get_title(self) -> str:
        return f"Edit the WIMS server {self.context.record.id}"

    def schema_factory(self) -> Any:
        return wims_schema(adding=False)

    def appstruct(self) -> dict[str, Any]:
        return wims_appstruct(self.context.record)

    def save_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        service = self.request.find_service(AdminService)
        changed = service.update_wims(self.context.record, appstruct)
        self.request.session.flash(
            f"Saved the WIMS server {self.context.record.id}"
            + (f" (changed: {', '.join(changed)})." if changed else ": no change."),
            "info",
        )
        return HTTPFound(location=self.request.resource_url(self.context))
