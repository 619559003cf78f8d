"""Launches that really run at the same time, against a served gateway."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import requests
import sqlalchemy as sa

from tests.functional.conftest import LMS_KEY, LMS_SECRET
from tests.lti_consumer import TEACHER, launch_params, signed_launch
from tests.served import served
from wimslti.models import ClassState, WimsClass, WimsUser

PARALLEL = 8


def launch_all(base_url, launches):
    """POST every launch at once; return the responses."""
    barrier = Barrier(len(launches))

    def post(fields):
        barrier.wait()
        return requests.post(
            f"{base_url}/lti/C1/", data=fields, allow_redirects=False, timeout=30
        )

    with ThreadPoolExecutor(len(launches)) as pool:
        return list(pool.map(post, launches))


def signed(base_url, *changes):
    params = launch_params(*changes)
    return signed_launch(f"{base_url}/lti/C1/", params, LMS_KEY, LMS_SECRET)


@pytest.mark.usefixtures("server")
class TestConcurrentLaunches:
    def test_teachers_launching_a_new_course_at_once_create_one_class(
        self, app, wims, dbsession
    ):
        # addclass is slow on a real WIMS: every other launch arrives meanwhile.
        wims.latency["addclass"] = 0.5
        with served(app) as base_url:
            responses = launch_all(
                base_url,
                [
                    signed(base_url, TEACHER, {"user_id": f"t-{n}"})
                    for n in range(PARALLEL)
                ],
            )

        assert [r.status_code for r in responses] == [302] * PARALLEL
        assert wims.count("addclass") == 1
        (wims_class,) = dbsession.scalars(sa.select(WimsClass)).all()
        assert wims_class.state is ClassState.READY
        sessions = {wims.sessions[_session(r)][0] for r in responses}
        assert sessions == {wims_class.qclass}

    def test_a_new_student_launching_at_once_gets_one_login(self, app, wims, dbsession):
        wims.latency["adduser"] = 0.3
        with served(app) as base_url:
            launch_all(base_url, [signed(base_url, TEACHER)])
            responses = launch_all(
                base_url, [signed(base_url) for _ in range(PARALLEL)]
            )

        assert [r.status_code for r in responses] == [302] * PARALLEL
        assert wims.count("adduser") == 1
        logins = {wims.sessions[_session(r)][1] for r in responses}
        assert logins == {"cdurand"}
        students = dbsession.scalars(
            sa.select(WimsUser).where(WimsUser.lms_user_id == "u-1001")
        ).all()
        assert [s.quser for s in students] == ["cdurand"]

    def test_many_new_students_at_once_each_get_a_login(self, app, wims, dbsession):
        with served(app) as base_url:
            launch_all(base_url, [signed(base_url, TEACHER)])
            # Homonyms on purpose: the logins collide and must be resolved.
            responses = launch_all(
                base_url,
                [signed(base_url, {"user_id": f"u-{n}"}) for n in range(PARALLEL)],
            )

        assert [r.status_code for r in responses] == [302] * PARALLEL
        logins = {wims.sessions[_session(r)][1] for r in responses}
        assert len(logins) == PARALLEL
        assert wims.count("adduser") == PARALLEL

    def test_a_double_click_is_one_launch_and_one_refusal(self, app, wims):
        with served(app) as base_url:
            fields = signed(base_url, TEACHER)
            responses = launch_all(base_url, [fields, fields])

        assert sorted(r.status_code for r in responses) == [302, 403]
        assert wims.count("addclass") == 1


def _session(response):
    location = response.headers["Location"]
    return location.split("session=")[1].split(".")[0]
