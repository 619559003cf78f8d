import pytest
import sqlalchemy as sa

from wimslti.config import DeclarationError
from wimslti.config.history import last_reloads, preview_reload, recorded_reload
from wimslti.models import Lms
from wimslti.models.config_reload import ConfigReload

LMS = """\
lms:
  - key: moodle-a
    secret: s3cr3t-a
    name: Moodle A
"""


def records(session_factory):
    with session_factory() as session:
        return last_reloads(session)


class TestRecordedReload:
    def test_a_reload_is_applied_and_recorded(self, session_factory, config_dir):
        (config_dir / "lms.yaml").write_text(LMS)

        report = recorded_reload(session_factory, config_dir, trigger="admin alice")

        assert report.added == ["LMS moodle-a"]
        (record,) = records(session_factory)
        assert record.succeeded is True
        assert record.trigger == "admin alice"
        assert record.config_dir == str(config_dir)
        assert record.files == ["lms.yaml"]
        assert record.report["added"] == ["LMS moodle-a"]
        assert record.problems == []
        assert record.finished_at >= record.started_at

    def test_a_failure_is_recorded_and_raised(self, session_factory, config_dir):
        (config_dir / "lms.yaml").write_text(LMS.replace("Moodle A", "''"))

        with pytest.raises(DeclarationError):
            recorded_reload(session_factory, config_dir, trigger="command line")

        (record,) = records(session_factory)
        assert record.succeeded is False
        assert record.report is None
        assert record.problems == [
            {
                "file": "lms.yaml",
                "line": 4,
                "entry": "lms[1] (key moodle-a)",
                "field": "name",
                "message": "Required",
            }
        ]
        with session_factory() as session:
            assert session.scalars(sa.select(Lms)).all() == []

    def test_no_value_is_recorded(self, session_factory, config_dir):
        (config_dir / "lms.yaml").write_text(LMS.replace("s3cr3t-a", "0123"))
        with pytest.raises(DeclarationError):
            recorded_reload(session_factory, config_dir, trigger="command line")
        (config_dir / "lms.yaml").write_text(LMS)
        recorded_reload(session_factory, config_dir, trigger="command line")

        with session_factory() as session:
            stored = session.execute(sa.text("SELECT * FROM config_reload")).all()
        assert "s3cr3t" not in repr(stored)

    def test_the_newest_record_comes_first(self, session_factory, config_dir):
        (config_dir / "lms.yaml").write_text(LMS)
        for trigger in ("first", "second"):
            recorded_reload(session_factory, config_dir, trigger=trigger)

        assert [r.trigger for r in records(session_factory)] == ["second", "first"]

    def test_a_missing_folder_is_recorded_as_a_problem(self, session_factory, tmp_path):
        with pytest.raises(DeclarationError):
            recorded_reload(session_factory, tmp_path / "nope", trigger="x")

        (record,) = records(session_factory)
        assert record.files == []
        assert record.problems[0]["message"] == "is not a folder"


class TestPreviewReload:
    def test_it_writes_nothing(self, session_factory, config_dir):
        (config_dir / "lms.yaml").write_text(LMS)

        report = preview_reload(session_factory, config_dir)

        assert report.added == ["LMS moodle-a"]
        with session_factory() as session:
            assert session.scalars(sa.select(Lms)).all() == []
            assert session.scalars(sa.select(ConfigReload)).all() == []


@pytest.fixture
def config_dir(tmp_path):
    path = tmp_path / "config"
    path.mkdir()
    return path
