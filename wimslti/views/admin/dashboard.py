"""The dashboard: what the gateway serves and how its grade worker is doing."""

from pyramid.view import view_config

from wimslti.config.history import last_reloads
from wimslti.resources.admin import AdminRoot
from wimslti.security import Permissions
from wimslti.services.admin import AdminService
from wimslti.views.admin import AdminViews


class DashboardViews(AdminViews):
    @view_config(
        context=AdminRoot,
        permission=Permissions.VIEW,
        renderer="admin/dashboard.jinja2",
    )
    def dashboard(self) -> dict:
        reloads = last_reloads(self.request.dbsession, limit=1)
        return {
            "figures": self.request.find_service(AdminService).dashboard(),
            "last_reload": reloads[0] if reloads else None,
        }
