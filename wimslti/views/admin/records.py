"""Retire and restore an LMS or WIMS server record made in the admin.

Retiring stops new launches through the record; its classes, users and grade
links stay in the database as they are. Restoring gives a retired record back
to the admin, whoever owned it before.
"""

import logging

from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config, view_defaults

from wimslti.resources.admin import LmsResource, RecordResource
from wimslti.security import Permissions
from wimslti.services.admin import AdminService
from wimslti.views.admin import AdminViews

log = logging.getLogger(__name__)


def kind_of(context: RecordResource) -> str:
    return "LMS" if isinstance(context, LmsResource) else "WIMS server"


@view_defaults(context=RecordResource)
class RecordViews(AdminViews):
    context: RecordResource

    @view_config(
        name="retire",
        request_method="GET",
        permission=Permissions.EDIT,
        renderer="admin/retire.jinja2",
    )
    def confirm_retire(self) -> dict:
        service = self.request.find_service(AdminService)
        return {
            "kind": kind_of(self.context),
            "usage": service.usage(self.context.record),
        }

    @view_config(
        name="retire",
        request_method="POST",
        permission=Permissions.EDIT,
        require_csrf=True,
    )
    def retire(self) -> HTTPFound:
        self.request.find_service(AdminService).retire(self.context.record)
        self.request.session.flash(
            f"Retired the {kind_of(self.context)} {self.context.record.name}: "
            "its classes, users and grade links are kept.",
            "info",
        )
        return HTTPFound(location=self.request.resource_url(self.context))

    @view_config(
        name="restore",
        request_method="POST",
        permission=Permissions.RESTORE,
        require_csrf=True,
    )
    def restore(self) -> HTTPFound:
        self.request.find_service(AdminService).restore(self.context.record)
        self.request.session.flash(
            f"Restored the {kind_of(self.context)} {self.context.record.name}; "
            "it is edited in the admin from now on.",
            "info",
        )
        return HTTPFound(location=self.request.resource_url(self.context))
