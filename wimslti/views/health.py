"""Endpoints for the machines that watch the gateway: health and metrics."""

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from wimslti.models.migrations import is_current
from wimslti.resources import Root


@view_config(context=Root, name="healthz", renderer="json")
def healthz(request: Request) -> dict[str, str]:
    """Say whether the database answers and its migrations are current."""
    engine = request.registry["dbengine"]
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        migrations = "current" if is_current(engine) else "behind"
    except sa.exc.SQLAlchemyError:
        request.response.status = 503
        return {"status": "fail", "database": "unreachable"}
    if migrations != "current":
        request.response.status = 503
        return {"status": "fail", "database": "ok", "migrations": migrations}
    return {"status": "ok", "database": "ok", "migrations": migrations}


@view_config(context=Root, name="metrics")
def metrics(request: Request) -> Response:
    """Return the gateway's metrics in Prometheus text format."""
    body = generate_latest(request.registry["metrics"].registry)
    return Response(
        body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0], charset="utf-8"
    )
