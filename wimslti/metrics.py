"""Prometheus metrics of the gateway: launches, adm/raw calls, grades, worker.

Counters of this process (launches by outcome, adm/raw calls and their
latency by job) live in one registry; what the worker processes do (grade
sends by outcome, worker lag) is read from the database at each scrape, so
that any web process can report it.
"""

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pyramid.config import Configurator
from sqlalchemy.orm import Session, sessionmaker

from wimslti.models import GradeLink, utcnow
from wimslti.models.worker_pass import WorkerPass


class GatewayMetrics:
    """The metrics of one application (one registry, so tests stay apart)."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.registry = CollectorRegistry()
        self.launches = Counter(
            "wimslti_launches",
            "LTI launches by outcome and HTTP status.",
            ["outcome", "status"],
            registry=self.registry,
        )
        self.adm_raw_seconds = Histogram(
            "wimslti_adm_raw_seconds",
            "adm/raw calls to WIMS by job and result, and their latency.",
            ["job", "result"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(session_factory))

    def observe_adm_raw(self, job: str, seconds: float, result: str) -> None:
        self.adm_raw_seconds.labels(job=job, result=result).observe(seconds)

    def count_launch(self, outcome: str, status: int) -> None:
        self.launches.labels(outcome=outcome, status=str(status)).inc()


class _DatabaseCollector(Collector):
    """Grade sends by outcome and the worker's lag, read at scrape time."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Callable = utcnow
    ):
        self.session_factory = session_factory
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        sends = GaugeMetricFamily(
            "wimslti_grade_links",
            "Grade links by the outcome of their last send to the LMS.",
            labels=["outcome"],
        )
        lag = GaugeMetricFamily(
            "wimslti_worker_lag_seconds",
            "Seconds since the grade worker last finished a pass (-1: never).",
        )
        with self.session_factory() as session:
            rows = session.execute(
                sa.select(GradeLink.last_outcome, sa.func.count()).group_by(
                    GradeLink.last_outcome
                )
            )
            for outcome, count in rows:
                sends.add_metric([outcome or "never_sent"], count)
            lag.add_metric([], self._worker_lag(session))
        yield sends
        yield lag

    def _worker_lag(self, session: Session) -> float:
        finished = session.scalar(sa.select(sa.func.max(WorkerPass.finished_at)))
        if finished is None:
            return -1
        return (self.clock() - finished).total_seconds()


def includeme(config: Configurator) -> None:
    config.registry["metrics"] = GatewayMetrics(config.registry["dbsession_factory"])
