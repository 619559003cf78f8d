"""Read the YAML declarations of LMSs and WIMS servers and validate them all.

Every ``*.yaml``/``*.yml`` file of the config folder is read in name order;
each may hold an ``lms:`` and a ``wims:`` list. String values may name
environment variables as ``${VAR}`` or ``${VAR:-default}``. All the problems
of all the files are collected and reported together, each naming its file,
line, entry and field, and never the value of a field (some are secrets).
"""

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import colander
import yaml

from wimslti.schemas.declarations import LmsSchema, WimsServerSchema

YAML_SUFFIXES = (".yaml", ".yml")
SECTIONS = ("lms", "wims")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the declarations, located as precisely as known."""

    file: str
    message: str
    line: int | None = None
    entry: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where, self.entry, self.field, self.message]
        return ": ".join(part for part in parts if part)


class DeclarationError(Exception):
    """The declarations are invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in errors))
        self.errors = errors


@dataclass(frozen=True)
class LmsDeclaration:
    key: str
    secret: str = field(repr=False)
    name: str
    guid: str | None
    url: str | None
    source_file: str
    line: int
    entry: str


@dataclass(frozen=True)
class WimsDeclaration:
    id: int | None
    name: str
    url: str
    ident: str
    passwd: str = field(repr=False)
    rclass: str
    class_limit: int
    class_lifetime_days: int
    allowed_lms: tuple[str, ...]
    contact_email: str | None
    source_file: str
    line: int
    entry: str


@dataclass(frozen=True)
class Declarations:
    """The valid content of a config folder."""

    lms: tuple[LmsDeclaration, ...] = ()
    wims: tuple[WimsDeclaration, ...] = ()
    files: tuple[str, ...] = ()


class _Mapping(dict):
    """A YAML mapping that remembers the lines of itself and of its keys."""

    line: int = 0
    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """A safe YAML loader whose mappings know their lines and refuse repeated keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[_Mapping]:
    data = _Mapping()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    for key_node, _value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value in data.lines:
            # PyYAML keeps the last of repeated keys without a word.
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the field {key_node.value!r} twice",
                key_node.start_mark,
            )
        if isinstance(key_node, yaml.ScalarNode):
            data.lines[key_node.value] = key_node.start_mark.line + 1
    data.update(loader.construct_mapping(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


class InterpolationError(ValueError):
    """A ``${VAR}`` reference cannot be resolved."""


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Return ``value`` with its ``${VAR}`` and ``${VAR:-default}`` references replaced.

    ``$${`` stands for a literal ``${``. Values taken from the environment are
    not interpolated again.

    :raises InterpolationError: for a variable that is not set and has no
        default, or a malformed reference.
    """
    parts = []
    position = 0
    while True:
        start = value.find("${", position)
        if start < 0:
            parts.append(value[position:])
            return "".join(parts)
        if start > position and value[start - 1] == "$":
            parts.append(value[position : start - 1] + "${")
            position = start + 2
            continue
        end = value.find("}", start)
        if end < 0:
            raise InterpolationError(
                "has a ${ without its closing }; write $${ for a literal ${"
            )
        name, has_default, default = value[start + 2 : end].partition(":-")
        if not VARIABLE_NAME.fullmatch(name):
            raise InterpolationError(
                "has a ${...} reference that does not start with a variable "
                "name; write $${ for a literal ${"
            )
        found = environ.get(name)
        if has_default and not found:
            found = default
        elif found is None:
            raise InterpolationError(f"environment variable {name} is not set")
        parts.append(value[position:start] + found)
        position = end + 1


def _interpolate_entry(
    entry: Any, environ: Mapping[str, str]
) -> tuple[Any, dict[str, str]]:
    """Return a copy of ``entry`` with every string interpolated, and the failures.

    The failures map a field path (``secret``, ``allowed_lms[2]``) to the
    reason; the failed values become ``None``.
    """
    failures: dict[str, str] = {}

    def resolve(value: Any, path: str) -> Any:
        if isinstance(value, str):
            try:
                return interpolate(value, environ)
            except InterpolationError as error:
                failures[path] = str(error)
                return None
        if isinstance(value, list):
            return [resolve(item, f"{path}[{n}]") for n, item in enumerate(value, 1)]
        if isinstance(value, dict):
            return {
                name: resolve(item, f"{path}.{name}") for name, item in value.items()
            }
        return value

    if not isinstance(entry, dict):
        return entry, failures
    resolved = {name: resolve(value, str(name)) for name, value in entry.items()}
    return resolved, failures


def _field_errors(error: colander.Invalid) -> list[tuple[str | None, str]]:
    """Return ``(field path, message)`` pairs, the path ``None`` for the entry."""
    found: list[tuple[str | None, str]] = []

    def walk(invalid: colander.Invalid, path: str | None) -> None:
        found.extend(
            (path, message) for message in colander.interpolate(invalid.messages())
        )
        positional = isinstance(invalid.node.typ, colander.Sequence)
        for child in invalid.children:
            if positional:
                child_path = f"{path}[{child.pos + 1}]"
            elif path is None:
                child_path = child.node.name
            else:
                child_path = f"{path}.{child.node.name}"
            walk(child, child_path)

    walk(error, None)
    return found


def _node_value(schema: colander.SchemaNode, name: str, entry: Any) -> Any:
    """Return the valid value of one field of ``entry``, or ``None``."""
    if not isinstance(entry, dict):
        return None
    try:
        return schema[name].deserialize(entry.get(name, colander.null))
    except colander.Invalid:
        return None


@dataclass
class _Entry:
    """One list item of one file, while it is being checked."""

    section: str
    file: str
    index: int
    line: int
    raw: Any
    lines: dict[Any, int]
    appstruct: dict[str, Any] | None = None
    label: str = ""

    def line_of(self, path: str | None) -> int:
        if path:
            return self.lines.get(re.split(r"[.\[]", path, maxsplit=1)[0], self.line)
        return self.line


class _Checker:
    """Collect the entries of every file and the problems found in them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[Problem] = []
        self.entries: list[_Entry] = []
        self.schemas: dict[str, colander.SchemaNode] = {
            "lms": LmsSchema(),
            "wims": WimsServerSchema(),
        }

    def problem(self, entry: _Entry, path: str | None, message: str) -> None:
        self.problems.append(
            Problem(
                file=entry.file,
                line=entry.line_of(path),
                entry=entry.label,
                field=path,
                message=message,
            )
        )

    def read_file(self, path: Path, name: str) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.problems.append(Problem(name, "is not UTF-8 text"))
            return
        except OSError as error:
            self.problems.append(Problem(name, f"cannot be read ({error.strerror})"))
            return
        try:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader
        except yaml.MarkedYAMLError as error:
            self.problems.append(_yaml_problem(name, error))
            return
        except yaml.YAMLError:
            self.problems.append(Problem(name, "is not valid YAML"))
            return
        self.read_document(document, name)

    def read_document(self, document: Any, name: str) -> None:
        if document is None:
            return
        if not isinstance(document, dict):
            self.problems.append(
                Problem(name, "must be a mapping with lms: and/or wims: lists", line=1)
            )
            return
        lines = getattr(document, "lines", {})
        for section in document:
            if section not in SECTIONS:
                self.problems.append(
                    Problem(
                        name,
                        f"unknown section {section!s}; the sections are lms and wims",
                        line=lines.get(section),
                    )
                )
        for section in SECTIONS:
            items = document.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                self.problems.append(
                    Problem(
                        name,
                        f"{section} must be a list of entries, each starting with '- '",
                        line=lines.get(section),
                    )
                )
                continue
            for index, raw in enumerate(items, 1):
                self.entries.append(
                    _Entry(
                        section=section,
                        file=name,
                        index=index,
                        line=getattr(raw, "line", 0) or lines.get(section, 0),
                        raw=raw,
                        lines=getattr(raw, "lines", {}),
                    )
                )

    def check_entry(self, entry: _Entry) -> None:
        schema = self.schemas[entry.section]
        resolved, failures = _interpolate_entry(entry.raw, self.environ)
        entry.raw = resolved
        entry.label = _label(entry, schema)
        errors: dict[str | None, list[str]] = {}
        try:
            entry.appstruct = schema.deserialize(resolved)
        except colander.Invalid as error:
            for path, message in _field_errors(error):
                errors.setdefault(path, []).append(message)
        # A field whose ${VAR} failed is reported for that, not as "Required".
        for path, message in failures.items():
            errors[path] = [message]
        if errors:
            entry.appstruct = None
        for path, messages in errors.items():
            for message in messages:
                self.problem(entry, path, message)

    def check_unique(self, section: str, name: str, what: str) -> dict[Any, _Entry]:
        """Report the values of field ``name`` declared twice.

        Return the first entry of each value.
        """
        schema = self.schemas[section]
        first: dict[Any, _Entry] = {}
        for entry in self.entries:
            if entry.section != section:
                continue
            value = _node_value(schema, name, entry.raw)
            if value is None:
                continue
            if value in first:
                other = first[value]
                self.problem(
                    entry,
                    name,
                    f"{what} is already declared in {other.file}:{other.line} "
                    f"({section}[{other.index}])",
                )
            else:
                first[value] = entry
        return first

    def check_allowed_lms(self, known_keys: Collection[str]) -> None:
        schema = self.schemas["wims"]
        for entry in self.entries:
            if entry.section != "wims" or not isinstance(entry.raw, dict):
                continue
            items = entry.raw.get("allowed_lms")
            if not isinstance(items, list):
                continue
            node = schema["allowed_lms"].children[0]
            for index, item in enumerate(items, 1):
                try:
                    key = node.deserialize(item)
                except colander.Invalid:
                    continue
                if key not in known_keys:
                    self.problem(
                        entry,
                        f"allowed_lms[{index}]",
                        f"no LMS has the key {key!r}: declare it in an lms: list "
                        "or create it in the admin",
                    )


def _label(entry: _Entry, schema: colander.SchemaNode) -> str:
    label = f"{entry.section}[{entry.index}]"
    if entry.section == "lms":
        key = _node_value(schema, "key", entry.raw)
        return f"{label} (key {key})" if key else label
    for name in ("id", "url", "name"):
        value = _node_value(schema, name, entry.raw)
        if value is not None:
            return f"{label} ({name} {value})"
    return label


def _yaml_problem(name: str, error: yaml.MarkedYAMLError) -> Problem:
    # str(error) quotes the offending line, which may hold a secret: keep
    # only the descriptions and the positions.
    mark = error.problem_mark or error.context_mark
    context = error.context or ""
    if context and error.context_mark and error.context_mark is not mark:
        context = f"{context} (line {error.context_mark.line + 1})"
    description = "; ".join(text for text in (context, error.problem) if text)
    if mark is None:
        return Problem(name, f"invalid YAML: {description or 'unreadable'}")
    return Problem(
        name,
        f"invalid YAML: {description or 'unreadable'} (column {mark.column + 1})",
        line=mark.line + 1,
    )


def yaml_files(config_dir: str | os.PathLike[str]) -> list[Path]:
    """Return the YAML files of ``config_dir`` in the order they are read."""
    folder = Path(config_dir)
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in YAML_SUFFIXES
        and path.is_file()
        # Editors and tools leave hidden files beside the ones being edited.
        and not path.name.startswith(".")
    )


def load_declarations(
    config_dir: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    known_lms_keys: Collection[str] = (),
) -> Declarations:
    """Read, interpolate and validate every YAML file of ``config_dir``.

    ``known_lms_keys`` are LMS keys that ``allowed_lms`` may name besides the
    declared ones (the LMSs made in the admin).

    :raises DeclarationError: listing every problem of every file.
    """
    environ = os.environ if environ is None else environ
    folder = Path(config_dir)
    if not folder.is_dir():
        raise DeclarationError([Problem(str(folder), "is not a folder")])

    checker = _Checker(environ)
    files = yaml_files(folder)
    if not files:
        # A folder left unmounted must not retire every LMS and WIMS server.
        raise DeclarationError(
            [
                Problem(
                    str(folder),
                    "holds no .yaml file, so nothing was changed; to retire "
                    "every record, keep a file that says lms: [] and wims: []",
                )
            ]
        )
    for path in files:
        checker.read_file(path, path.name)
    for entry in checker.entries:
        checker.check_entry(entry)
    lms_keys = checker.check_unique("lms", "key", "this key")
    checker.check_unique("wims", "id", "this id")
    checker.check_unique("wims", "url", "this url")
    checker.check_allowed_lms(set(lms_keys) | set(known_lms_keys))
    if checker.problems:
        raise DeclarationError(
            sorted(
                checker.problems, key=lambda problem: (problem.file, problem.line or 0)
            )
        )

    return Declarations(
        lms=tuple(
            LmsDeclaration(
                **entry.appstruct,
                source_file=entry.file,
                line=entry.line,
                entry=entry.label,
            )
            for entry in checker.entries
            if entry.section == "lms" and entry.appstruct is not None
        ),
        wims=tuple(
            WimsDeclaration(
                **{
                    **entry.appstruct,
                    "allowed_lms": tuple(entry.appstruct["allowed_lms"]),
                },
                source_file=entry.file,
                line=entry.line,
                entry=entry.label,
            )
            for entry in checker.entries
            if entry.section == "wims" and entry.appstruct is not None
        ),
        files=tuple(path.name for path in files),
    )
