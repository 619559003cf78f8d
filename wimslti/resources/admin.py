"""The ``admin`` branch of the traversal tree, readable by administrators only.

``/admin/`` is the dashboard; ``/admin/lms/<id>/`` and ``/admin/wims/<id>/``
are the LMS and WIMS server records, ``/admin/classes/<id>/`` the classes,
``/admin/config/`` the reloads of the YAML files and ``/admin/account/`` the
administrator's own account. The ACL of the root lets administrators in;
each record's ACL takes back what its owner does not allow: a record that
a YAML file declares cannot be changed here, a retired one only restored.
"""

from typing import Any

import sqlalchemy as sa
from pyramid.authorization import DENY_ALL, Allow, Deny, Everyone
from pyramid.request import Request

from wimslti.config.sync import YAML
from wimslti.models import Lms, WimsClass, WimsServer
from wimslti.security import ADMINS, Permissions


class AdminResource:
    """A location-aware node of the admin branch."""

    __name__: str = ""
    __parent__: Any = None
    title = ""

    def __init__(self, request: Request, name: str, parent: Any) -> None:
        self.request = request
        self.__name__ = name
        self.__parent__ = parent

    def __getitem__(self, name: str) -> "AdminResource":
        raise KeyError(name)


def _row_id(name: str) -> int | None:
    if name.isdigit() and len(name) < 10:
        return int(name)
    return None


class AdminRoot(AdminResource):
    title = "Dashboard"
    __acl__ = [(Allow, ADMINS, tuple(Permissions)), DENY_ALL]

    def __getitem__(self, name: str) -> AdminResource:
        branches: dict[str, type[AdminResource]] = {
            "lms": LmsContainer,
            "wims": WimsContainer,
            "classes": ClassContainer,
            "config": ConfigResource,
            "account": AccountResource,
        }
        if name not in branches:
            raise KeyError(name)
        return branches[name](self.request, name, self)


class RecordResource(AdminResource):
    """One LMS or WIMS server record, owned by a YAML file or by the admin."""

    record: Lms | WimsServer

    def __init__(
        self, request: Request, name: str, parent: Any, record: Lms | WimsServer
    ) -> None:
        super().__init__(request, name, parent)
        self.record = record
        self.title = record.name

    @property
    def owned_by_file(self) -> bool:
        return self.record.source == YAML and self.record.retired_at is None

    @property
    def __acl__(self) -> list:
        if self.record.retired_at is not None:
            return [(Deny, Everyone, Permissions.EDIT)]
        if self.owned_by_file:
            return [(Deny, Everyone, (Permissions.EDIT, Permissions.RESTORE))]
        return [(Deny, Everyone, Permissions.RESTORE)]


class LmsResource(RecordResource):
    record: Lms


class WimsResource(RecordResource):
    record: WimsServer


class LmsContainer(AdminResource):
    title = "LMSs"

    def __getitem__(self, name: str) -> LmsResource:
        row_id = _row_id(name)
        record = None if row_id is None else self.request.dbsession.get(Lms, row_id)
        if record is None:
            raise KeyError(name)
        return LmsResource(self.request, name, self, record)

    def records(self) -> list[Lms]:
        """Return every LMS, active ones first, each group by name."""
        query = sa.select(Lms).order_by(
            Lms.retired_at.is_not(None), sa.func.lower(Lms.name), Lms.key
        )
        return list(self.request.dbsession.scalars(query))


class WimsContainer(AdminResource):
    title = "WIMS servers"

    def __getitem__(self, name: str) -> WimsResource:
        row_id = _row_id(name)
        record = (
            None if row_id is None else self.request.dbsession.get(WimsServer, row_id)
        )
        if record is None:
            raise KeyError(name)
        return WimsResource(self.request, name, self, record)

    def records(self) -> list[WimsServer]:
        """Return every WIMS server, active ones first, each group by number."""
        query = sa.select(WimsServer).order_by(
            WimsServer.retired_at.is_not(None), WimsServer.id
        )
        return list(self.request.dbsession.scalars(query))


class ClassResource(AdminResource):
    def __init__(
        self, request: Request, name: str, parent: Any, record: WimsClass
    ) -> None:
        super().__init__(request, name, parent)
        self.record = record
        self.title = f"Class {record.qclass}"


class ClassContainer(AdminResource):
    title = "Classes"

    def __getitem__(self, name: str) -> ClassResource:
        row_id = _row_id(name)
        record = (
            None if row_id is None else self.request.dbsession.get(WimsClass, row_id)
        )
        if record is None:
            raise KeyError(name)
        return ClassResource(self.request, name, self, record)


class ConfigResource(AdminResource):
    title = "Configuration"


class AccountResource(AdminResource):
    title = "My account"
