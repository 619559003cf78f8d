"""The deform forms of the admin: one base view, its CSRF node, the schemas.

The LMS and WIMS server forms are made from the colander schemas that
validate the YAML declarations (``wimslti.schemas.declarations``): the same
fields, limits, messages and help. What only a form needs is added here:
the CSRF token, widgets, uniqueness checks against the database, secrets
that are never shown back and are kept when left empty.
"""

import hmac
from collections.abc import Callable
from typing import Any

import colander
import deform
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid_deform import FormView

from wimslti.config.sync import YAML
from wimslti.models import Lms, WimsServer
from wimslti.schemas.declarations import LmsSchema, WimsServerSchema
from wimslti.services.admin import AdminService
from wimslti.services.admin_user import LOGIN_MAX, PASSWORD_MAX, PASSWORD_MIN
from wimslti.views.admin import no_store

FORM_TEMPLATE = "admin/form.jinja2"


@colander.deferred
def _csrf_value(node: colander.SchemaNode, kw: dict[str, Any]) -> str:
    return get_csrf_token(kw["request"])


@colander.deferred
def _csrf_validator(node: colander.SchemaNode, kw: dict[str, Any]) -> Callable:
    expected = get_csrf_token(kw["request"])

    def validate(node: colander.SchemaNode, value: str) -> None:
        if not hmac.compare_digest(str(value), expected):
            raise colander.Invalid(node, "This form has expired: send it again.")

    return validate


def csrf_node() -> colander.SchemaNode:
    """Return the hidden node that carries the session's CSRF token."""
    return colander.SchemaNode(
        colander.String(),
        name="csrf_token",
        widget=deform.widget.HiddenWidget(),
        default=_csrf_value,
        validator=_csrf_validator,
    )


class BaseFormView(FormView):
    """A deform form on a resource: save, cancel, and back to the resource.

    Subclasses give ``schema_factory`` and ``save_success``; an edit form
    also gives ``appstruct``, filled from the context.
    """

    buttons: tuple = (
        deform.Button("save", "Save"),
        deform.Button("cancel", "Cancel", css_class="btn-secondary"),
    )
    form_options: tuple = (("formid", "admin-form"),)
    schema_factory: Callable[[], colander.SchemaNode]
    title = ""

    def __init__(self, context: Any, request: Request) -> None:
        super().__init__(request)
        self.context = context
        self.form: deform.Form | None = None
        no_store(request)

    def __call__(self) -> Any:
        self.schema = self.schema_factory()
        result = super().__call__()
        if isinstance(result, dict):
            result.setdefault("title", self.get_title())
            result.setdefault("context", self.context)
        return result

    def get_title(self) -> str:
        return self.title

    def get_bind_data(self) -> dict[str, Any]:
        return {"request": self.request, "context": self.context}

    def before(self, form: deform.Form) -> None:
        self.form = form

    def success_url(self) -> str:
        return self.request.resource_url(self.context)

    def cancel_success(self, appstruct: dict[str, Any]) -> HTTPFound:
        return HTTPFound(location=self.success_url())

    def cancel_failure(self, error: deform.ValidationFailure) -> HTTPFound:
        return HTTPFound(location=self.success_url())

    def refuse(
        self, cstruct: dict[str, Any], message: str, field: str | None = None
    ) -> None:
        """Show the form again with ``message`` on ``field``, or above the fields.

        :raises deform.ValidationFailure: always.
        """
        if self.form is None:
            raise RuntimeError("refuse() is for the success method of a form")
        schema = self.form.schema
        error = colander.Invalid(schema, message)
        if field is not None:
            node = schema[field]
            error.add(colander.Invalid(node, message), schema.children.index(node))
        self.form.widget.handle_error(self.form, error)
        raise deform.ValidationFailure(self.form, cstruct, error)


def _service(kw: dict[str, Any]) -> AdminService:
    return kw["request"].find_service(AdminService)


def _current(kw: dict[str, Any]) -> Any:
    """Return the record the form edits, or None on an add form."""
    return getattr(kw.get("context"), "record", None)


def _with_check(
    original: Callable | None,
    make_check: Callable[[dict[str, Any]], Callable],
) -> colander.deferred:
    """Return a deferred validator: ``original``, then a check made at bind."""

    def validator(node: colander.SchemaNode, kw: dict[str, Any]) -> Callable:
        check = make_check(kw)
        return colander.All(original, check) if original else check

    return colander.deferred(validator)


def _owner(record: Lms | WimsServer) -> str:
    if record.retired_at is not None:
        return "retired: restore it rather than add another"
    if record.source == YAML:
        return f"declared in {record.source_file}"
    return "made in the admin"


def _unique_lms_key(kw: dict[str, Any]) -> Callable:
    def check(node: colander.SchemaNode, value: str) -> None:
        other = _service(kw).lms_by_key(value)
        if other is not None and other is not _current(kw):
            raise colander.Invalid(
                node, f"is already the key of the LMS {other.name!r} ({_owner(other)})"
            )

    return check


def _unique_wims_url(kw: dict[str, Any]) -> Callable:
    def check(node: colander.SchemaNode, value: str) -> None:
        other = _service(kw).wims_by_url(value)
        if other is not None and other is not _current(kw):
            raise colander.Invalid(
                node,
                f"is already the address of the WIMS server {other.id} "
                f"{other.name!r} ({_owner(other)})",
            )

    return check


def _free_wims_id(kw: dict[str, Any]) -> Callable:
    def check(node: colander.SchemaNode, value: int) -> None:
        other = kw["request"].dbsession.get(WimsServer, value)
        if other is not None:
            raise colander.Invalid(
                node,
                f"is already the number of the WIMS server {other.name!r} "
                f"({_owner(other)}); leave it empty for a new number",
            )

    return check


def _lms_choices(kw: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the LMSs a server may allow: the active ones and those it has."""
    choices = {lms.key: lms for lms in _service(kw).active_lms()}
    current = _current(kw)
    for lms in current.allowed_lms if isinstance(current, WimsServer) else ():
        choices.setdefault(lms.key, lms)
    return [
        (key, f"{lms.name} ({key}){' — retired' if lms.retired_at else ''}")
        for key, lms in choices.items()
    ]


def _offered_lms(kw: dict[str, Any]) -> Callable:
    def check(node: colander.SchemaNode, value: list[str]) -> None:
        offered = {key for key, _label in _lms_choices(kw)}
        unknown = [key for key in value if key not in offered]
        if unknown:
            raise colander.Invalid(
                node, f"no active LMS has the key {', '.join(unknown)}"
            )

    return check


@colander.deferred
def _allowed_lms_widget(node: colander.SchemaNode, kw: dict[str, Any]) -> Any:
    choices = _lms_choices(kw)
    return deform.widget.SelectWidget(
        values=choices, multiple=True, size=min(max(len(choices), 2), 8)
    )


def _secret(node: colander.SchemaNode, adding: bool, what: str, help: str) -> None:
    """Make ``node`` a masked field, kept unchanged when left empty on edit."""
    attributes = {"autocomplete": "new-password", "spellcheck": "false"}
    node.description = help
    if not adding:
        node.missing = colander.drop
        attributes["placeholder"] = "unchanged"
        node.description = (
            f"{help} The current {what} is never shown: leave the field empty to "
            f"keep it, or type a new {what} to replace it."
        )
    node.widget = deform.widget.PasswordWidget(attributes=attributes)


def _number_widget() -> deform.widget.Widget:
    return deform.widget.TextInputWidget(attributes={"inputmode": "numeric"})


def lms_schema(adding: bool) -> colander.SchemaNode:
    """Return the LMS form: ``LmsSchema`` with the admin's additions."""
    schema = LmsSchema().clone()
    schema["key"].validator = _with_check(schema["key"].validator, _unique_lms_key)
    _secret(
        schema["secret"],
        adding,
        "secret",
        "The LTI shared secret paired with the consumer key: the 'Shared secret' "
        "of the external tool in Moodle, the 'Shared Secret' of the app in Canvas.",
    )
    schema.add(csrf_node())
    return schema


def wims_schema(adding: bool) -> colander.SchemaNode:
    """Return the WIMS server form: ``WimsServerSchema`` with the admin's additions."""
    schema = WimsServerSchema().clone()
    if adding:
        schema["id"].validator = _with_check(schema["id"].validator, _free_wims_id)
        schema["id"].widget = _number_widget()
        schema[
            "id"
        ].description = (
            f"{schema['id'].description} Leave it empty for the next free number."
        )
    else:
        # The number is in the launch URLs of LMS activities: it never changes.
        del schema["id"]
    schema["url"].validator = _with_check(schema["url"].validator, _unique_wims_url)
    _secret(
        schema["passwd"],
        adding,
        "password",
        "The ident_password written in the connection file "
        "log/classes/.connections/<ident> on the WIMS server.",
    )
    for name in ("class_limit", "class_lifetime_days"):
        schema[name].widget = _number_widget()
    allowed = schema["allowed_lms"]
    allowed.widget = _allowed_lms_widget
    allowed.validator = _with_check(allowed.validator, _offered_lms)
    allowed.description = (
        f"{allowed.description} Choose several with Ctrl or ⌘ (on a phone, "
        "tick them in the list)."
    )
    schema.add(csrf_node())
    return schema


def lms_appstruct(lms: Lms) -> dict[str, Any]:
    """Return the LMS form's values from ``lms``, without its secret."""
    values = {"key": lms.key, "guid": lms.guid, "name": lms.name, "url": lms.url}
    return _nulls(values)


def wims_appstruct(server: WimsServer) -> dict[str, Any]:
    """Return the WIMS server form's values from ``server``, without its passwd."""
    values = {
        "name": server.name,
        "url": server.url,
        "ident": server.ident,
        "rclass": server.rclass,
        "class_limit": server.class_limit,
        "class_lifetime_days": server.class_lifetime_days,
        "allowed_lms": [lms.key for lms in server.allowed_lms],
        "contact_email": server.contact_email,
    }
    return _nulls(values)


def _nulls(values: dict[str, Any]) -> dict[str, Any]:
    # colander serializes None as the text "None"; null is an empty field.
    return {
        name: colander.null if value is None else value
        for name, value in values.items()
    }


class LoginSchema(colander.MappingSchema):
    login = colander.SchemaNode(
        colander.String(),
        title="Login",
        validator=colander.Length(max=LOGIN_MAX),
        widget=deform.widget.TextInputWidget(
            attributes={
                "autocomplete": "username",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
    password = colander.SchemaNode(
        colander.String(),
        title="Password",
        validator=colander.Length(max=PASSWORD_MAX),
        widget=deform.widget.PasswordWidget(
            attributes={"autocomplete": "current-password"}
        ),
    )


def login_schema() -> colander.SchemaNode:
    schema = LoginSchema()
    schema.add(csrf_node())
    return schema


class PasswordSchema(colander.MappingSchema):
    current_password = colander.SchemaNode(
        colander.String(),
        title="Current password",
        widget=deform.widget.PasswordWidget(
            attributes={"autocomplete": "current-password"}
        ),
    )
    new_password = colander.SchemaNode(
        colander.String(),
        title="New password",
        description=(
            f"At least {PASSWORD_MIN} characters. Your other sessions end when "
            "you save."
        ),
        validator=colander.Length(
            min=PASSWORD_MIN,
            max=PASSWORD_MAX,
            min_err="must be at least ${min} characters long",
            max_err="must be at most ${max} characters long",
        ),
        widget=deform.widget.CheckedPasswordWidget(
            mismatch_message="the two passwords differ",
            attributes={"autocomplete": "new-password"},
        ),
    )


def password_schema() -> colander.SchemaNode:
    schema = PasswordSchema()
    schema.add(csrf_node())
    return schema
