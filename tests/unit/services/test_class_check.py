from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.doubles.wims import WimsDouble
from wimslti.models import (
    Activity,
    ActivityKind,
    ActivityState,
    ClassState,
    Lms,
    WimsClass,
    WimsServer,
    committed_session,
)
from wimslti.services.class_check import ClassChecker
from wimslti.services.wims_connector import WimsConnector

NOW = datetime(2026, 12, 4, 12, 0)


class TestClassChecker:
    def test_a_class_wims_does_not_have_is_marked_gone(self, wims, classes, check):
        kept, lost = classes("ready", "ready")
        wims.delete_class(lost.qclass)

        (report,) = check()

        assert report.gone == [lost.qclass]
        assert report.checked == 2
        assert state(classes, kept) is ClassState.READY
        assert state(classes, lost) is ClassState.GONE
        assert activity_states(classes, lost) == [ActivityState.GONE]
        assert activity_states(classes, kept) == [ActivityState.READY]

    def test_a_class_refusing_our_rclass_is_not_gone(self, wims, classes, check):
        (foreign,) = classes("ready")
        wims.delete_class(foreign.qclass)
        wims.add_class(foreign.qclass, rclass="otherclass")

        (report,) = check()

        assert report.gone == []
        assert "connection refused" in report.errors[foreign.qclass]
        assert state(classes, foreign) is ClassState.READY

    def test_a_server_that_does_not_answer_changes_nothing(self, wims, classes, check):
        first, second = classes("ready", "ready")
        wims.fail_next("checkclass", "http500")

        (report,) = check()

        assert sorted(report.errors) == sorted([first.qclass, second.qclass])
        assert wims.count("checkclass") == 1
        assert state(classes, first) is ClassState.READY

    def test_only_ready_classes_are_checked(self, wims, classes, check):
        classes("gone", "creating")

        (report,) = check()

        assert report.checked == 0
        assert wims.count("checkclass") == 0

    def test_the_report_line(self, wims, classes, check):
        _, lost = classes("ready", "ready")
        wims.delete_class(lost.qclass)

        (report,) = check()

        assert report.line() == f"server 1 (WIMS): 2 checked, 1 gone ({lost.qclass})"

    @pytest.fixture
    def wims(self):
        with WimsDouble.serve() as double:
            yield double

    @pytest.fixture
    def classes(self, session_factory, wims):
        def make(*states):
            made = []
            with committed_session(session_factory) as session:
                lms = session.scalars(sa.select(Lms)).first() or Lms(
                    key="k", secret="s", name="Moodle"
                )
                server = session.get(WimsServer, 1) or WimsServer(
                    id=1,
                    name="WIMS",
                    url=wims.url,
                    ident="wimslti",
                    passwd="wimsltipass",
                    rclass="myclass",
                )
                for number, value in enumerate(states):
                    wims_class = WimsClass(
                        lms=lms,
                        context_id=f"ctx-{number}",
                        wims_server=server,
                        qclass=wims.add_class(),
                        state=ClassState(value),
                        name="Class",
                        class_password="pw",
                        supervisor_password="pw",
                    )
                    session.add(wims_class)
                    session.flush()
                    session.add(
                        Activity(
                            class_id=wims_class.id, kind=ActivityKind.SHEET, qitem=1
                        )
                    )
                    made.append(wims_class)
            return made

        make.session_factory = session_factory
        return make

    @pytest.fixture
    def check(self, session_factory):
        checker = ClassChecker(
            session_factory, WimsConnector(timeout=2), clock=lambda: NOW
        )
        return checker.check_all


def state(classes, wims_class):
    with committed_session(classes.session_factory) as session:
        return session.get(WimsClass, wims_class.id).state


def activity_states(classes, wims_class):
    with committed_session(classes.session_factory) as session:
        return session.scalars(
            sa.select(Activity.state).where(Activity.class_id == wims_class.id)
        ).all()
