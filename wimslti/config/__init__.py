"""The YAML declarations of LMSs and WIMS servers: loading, validation, sync."""

from pyramid.config import Configurator

from wimslti.config.loader import (
    DeclarationError,
    Declarations,
    LmsDeclaration,
    Problem,
    WimsDeclaration,
    interpolate,
    load_declarations,
)
from wimslti.config.sync import (
    SyncReport,
    reload_config,
    sync_at_start,
    sync_declarations,
)

__all__ = [
    "DeclarationError",
    "Declarations",
    "LmsDeclaration",
    "Problem",
    "SyncReport",
    "WimsDeclaration",
    "includeme",
    "interpolate",
    "load_declarations",
    "reload_config",
    "sync_at_start",
    "sync_declarations",
]


def includeme(config: Configurator) -> None:
    registry = config.registry

    def sync() -> None:
        # Looked up when the action runs, so that wimslti.models may be
        # included before or after this module.
        sync_at_start(registry.settings, registry.get("dbsession_factory"))

    # An action runs once the configuration is complete and has no conflict,
    # so a broken configuration never touches the database.
    config.action(None, sync)
