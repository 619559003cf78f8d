import pytest
import sqlalchemy as sa

from tests.functional.launching import launch, teacher_launch


class TestHealthz:
    def test_a_migrated_reachable_database_is_healthy(self, testapp):
        response = testapp.get("/healthz")

        assert response.json == {
            "status": "ok",
            "database": "ok",
            "migrations": "current",
        }

    def test_a_database_behind_its_migrations_is_not(self, testapp, db_engine):
        with db_engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE alembic_version SET version_num = 'old'")
            )

        response = testapp.get("/healthz", status=503)

        assert response.json["migrations"] == "behind"


@pytest.mark.usefixtures("server")
class TestMetrics:
    def test_launches_and_adm_raw_calls_are_counted(self, testapp):
        teacher_launch(testapp)
        launch(testapp)
        launch(testapp, secret="wrong", status=403)

        text = testapp.get("/metrics").text

        assert 'wimslti_launches_total{outcome="ok",status="302"} 2.0' in text
        assert 'wimslti_launches_total{outcome="refused",status="403"} 1.0' in text
        assert 'wimslti_adm_raw_seconds_count{job="addclass",result="ok"} 1.0' in text
        assert 'wimslti_adm_raw_seconds_count{job="authuser",result="ok"} 2.0' in text
        assert "wimslti_worker_lag_seconds -1.0" in text

    def test_wims_failures_are_counted_by_kind(self, testapp, wims):
        wims.fail_next("addclass", "busy")
        teacher_launch(testapp, status=503)

        text = testapp.get("/metrics").text

        assert 'job="addclass",result="WimsUnavailable"' in text
