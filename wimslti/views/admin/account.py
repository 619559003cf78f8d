"""The administrator's own account: a new password ends their other sessions."""

import logging
from typing import Any

from pyramid.httpexceptions import HTTPFound
from pyramid.security import remember
from pyramid.view import view_config

from wimslti.resources.admin import AccountResource
from wimslti.security import Permissions
from wimslti.services.admin_user import AdminUserService
from wimslti.views.admin.forms import FORM_TEMPLATE, BaseFormView, password_schema

log = logging.getLogger(__name__)


@view_config(
    context=AccountResource,
    permission=Permissions.MANAGE,
    renderer=FORM_TEMPLATE,
    require_csrf=True,
)
class PasswordForm(BaseFormView):
    title = "Change my password"

    def schema_factory(self) -> Any:
        return password_schema()

    def success_url(self) -> str:
        return self.request.resource_url(self.context.__parent__)

    def save_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        service = self.request.find_service(AdminUserService)
        user = self.request.identity
        if service.authenticate(user.login, appstruct["current_password"]) is None:
            self.refuse(
                {"csrf_token": appstruct["csrf_token"]},
                "is wrong: nothing was changed",
                field="current_password",
            )
        service.set_password(user.login, appstruct["new_password"])
        # A new fingerprint, so that this session stays open.
        headers = remember(self.request, user.id)
        self.request.session.flash(
            "Changed your password; your other sessions are closed.", "info"
        )
        return HTTPFound(location=self.success_url(), headers=headers)
