"""The YAML configuration: its files, the last reloads, and the reload action.

"Reload configuration" does what ``wimslti sync-config`` does (both call
``recorded_reload``): validate every file, then apply all in one
transaction, or nothing. The running gateway reads its records from the
database at each launch, so a reload from either side is in force at once.
"""

import logging

from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config, view_defaults

from wimslti.config import DeclarationError
from wimslti.config.history import last_reloads, preview_reload, recorded_reload
from wimslti.config.loader import yaml_files
from wimslti.resources.admin import ConfigResource
from wimslti.security import Permissions
from wimslti.views.admin import AdminViews

log = logging.getLogger(__name__)


@view_defaults(context=ConfigResource)
class ConfigViews(AdminViews):
    @property
    def config_dir(self) -> str:
        return str(self.request.registry.settings["wimslti.config_dir"])

    def files(self) -> list[str]:
        try:
            return [path.name for path in yaml_files(self.config_dir)]
        except OSError:
            return []

    def page(self, preview: dict | None = None) -> dict:
        reloads = last_reloads(self.request.dbsession)
        return {
            "config_dir": self.config_dir,
            "files": self.files(),
            "last": reloads[0] if reloads else None,
            "history": reloads,
            "preview": preview,
        }

    @view_config(
        request_method="GET",
        permission=Permissions.VIEW,
        renderer="admin/config.jinja2",
    )
    def show(self) -> dict:
        return self.page()

    @view_config(
        name="reload",
        request_method="POST",
        permission=Permissions.MANAGE,
        require_csrf=True,
    )
    def reload(self) -> HTTPFound:
        trigger = f"admin {self.request.identity.login}"
        try:
            report = recorded_reload(
                self.request.registry["dbsession_factory"],
                self.config_dir,
                trigger=trigger,
            )
        except DeclarationError as error:
            self.request.session.flash(
                f"The configuration was not reloaded: {len(error.errors)} "
                "problem(s) in the files, listed below. Nothing was changed.",
                "error",
            )
        else:
            self.request.session.flash(
                f"Reloaded the configuration: {report.summary()}.", "info"
            )
        return HTTPFound(location=self.request.resource_url(self.context))

    @view_config(
        name="check",
        request_method="POST",
        permission=Permissions.MANAGE,
        require_csrf=True,
        renderer="admin/config.jinja2",
    )
    def check(self) -> dict:
        try:
            report = preview_reload(
                self.request.registry["dbsession_factory"], self.config_dir
            )
        except DeclarationError as error:
            return self.page({"ok": False, "problems": error.errors})
        return self.page({"ok": True, "report": report})
