"""One INFO line per launch, with identifiers and never secrets."""

import logging
import uuid

from pyramid.config import Configurator
from pyramid.request import Request

log = logging.getLogger("wimslti.launch")


def log_launch(request: Request, outcome: str, **fields: object) -> None:
    """Log the launch's outcome with what identifies it, and count it."""
    status = fields.get("status", 302)
    request.registry["metrics"].count_launch(outcome, int(status))  # type: ignore[call-overload]
    entries = {**request.launch_log, **fields}
    entries.pop("authenticated", None)
    text = " ".join(f"{name}={value!r}" for name, value in entries.items())
    log.info("launch %s ref=%s %s", outcome, request.correlation_id, text)


def includeme(config: Configurator) -> None:
    config.add_request_method(lambda request: {}, "launch_log", reify=True)
    config.add_request_method(
        lambda request: uuid.uuid4().hex[:12], "correlation_id", reify=True
    )
