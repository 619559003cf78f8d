"""Reloading the YAML declarations from the admin and from ``sync-config``."""

from pathlib import Path

import pytest

from tests.functional.test_admin import (
    browser,
    log_in,
    make_admin,
    rows,
    text_of,
)
from tests.gateway_ini import write_gateway_ini
from wimslti.models import Lms, WimsServer, committed_session
from wimslti.models.config_reload import ConfigReload
from wimslti.scripts.cli import main as wimslti

PROJECT = Path(__file__).resolve().parents[2]

LMS_YAML = """\
lms:
  - key: moodle-a
    secret: yaml-secret-aaa
    name: Moodle A
    guid: moodle-a.example.edu
"""

WIMS_YAML = """\
wims:
  - id: 1
    name: WIMS one
    url: http://127.0.0.1:7777/wims/wims.cgi
    ident: wimslti
    passwd: yaml-passwd-aaa
    rclass: myclass
    allowed_lms: [moodle-a]
"""

BROKEN_WIMS_YAML = """\
wims:
  - id: 1
    name: WIMS one
    url: http://127.0.0.1:7777/wims/wims.cgi/
    ident: wimslti
    passwd: yaml-passwd-aaa
    rclass: myclass
    class_limit: 0
    allowed_lms: [moodle-a, moodle-zz]
"""


@pytest.fixture
def config_dir(app_settings):
    return Path(app_settings["wimslti.config_dir"])


@pytest.fixture
def logged_in(app, session_factory):
    make_admin(session_factory)
    client = browser(app)
    log_in(client)
    return client


def reload(client, button="Reload configuration"):
    page = client.get("/admin/config/")
    (form,) = [
        form
        for form in page.forms.values()
        if form.action.endswith("/reload" if button.startswith("Reload") else "/check")
    ]
    return form.submit()


def snapshot(session_factory):
    """Return what the records hold, to compare before and after."""
    lms = [
        (row.key, row.secret, row.name, row.source, row.retired_at)
        for row in rows(session_factory, Lms)
    ]
    wims = [
        (row.id, row.url, row.passwd, row.class_limit, row.source, row.retired_at)
        for row in rows(session_factory, WimsServer)
    ]
    return lms, wims


class TestReload:
    def test_it_applies_the_files_and_shows_what_changed(
        self, logged_in, config_dir, session_factory
    ):
        (config_dir / "lms.yaml").write_text(LMS_YAML)
        (config_dir / "wims.yaml").write_text(WIMS_YAML)

        response = reload(logged_in)

        assert response.status_int == 302
        page = response.follow()
        text = text_of(page)
        assert "Reloaded the configuration: 2 added" in text
        assert "by admin alice: applied. Files: lms.yaml, wims.yaml." in text
        assert "Added (2) LMS moodle-a WIMS 1 http://127.0.0.1:7777" in text
        (lms,) = rows(session_factory, Lms)
        assert (lms.source, lms.source_file) == ("yaml", "lms.yaml")
        (server,) = rows(session_factory, WimsServer)
        assert [allowed.key for allowed in server.allowed_lms] == ["moodle-a"]
        for secret in ("yaml-secret-aaa", "yaml-passwd-aaa"):
            assert secret not in page.text

    def test_a_yaml_record_is_read_only_with_its_file(self, logged_in, config_dir):
        (config_dir / "lms.yaml").write_text(LMS_YAML)
        reload(logged_in)

        page = logged_in.get("/admin/lms/1/")

        assert "Declared in lms.yaml" in text_of(page)
        assert "it is read-only here" in text_of(page)
        assert "/admin/lms/1/edit" not in page.text
        assert "YAML: lms.yaml" in text_of(logged_in.get("/admin/lms/"))

    def test_a_declaration_takes_over_an_admin_record_and_says_so(
        self, logged_in, config_dir, session_factory
    ):
        with committed_session(session_factory) as session:
            session.add(Lms(key="moodle-a", secret="admin-secret", name="Mine"))
        assert "Made in the admin" in text_of(logged_in.get("/admin/lms/1/"))
        (config_dir / "lms.yaml").write_text(LMS_YAML)

        page = reload(logged_in).follow()

        assert "LMS moodle-a taken over from the admin" in text_of(page)
        (lms,) = rows(session_factory, Lms)
        assert (lms.id, lms.source, lms.name) == (1, "yaml", "Moodle A")
        logged_in.get("/admin/lms/1/edit", status=403)

    def test_a_record_no_file_declares_is_retired(
        self, logged_in, config_dir, session_factory
    ):
        (config_dir / "lms.yaml").write_text(LMS_YAML)
        reload(logged_in)
        (config_dir / "lms.yaml").write_text("lms: []\n")

        page = reload(logged_in).follow()

        assert "Retired (1) LMS moodle-a" in text_of(page)
        assert rows(session_factory, Lms)[0].retired_at is not None

    def test_a_failed_reload_changes_nothing_and_shows_why(
        self, logged_in, config_dir, session_factory
    ):
        (config_dir / "lms.yaml").write_text(LMS_YAML)
        (config_dir / "wims.yaml").write_text(WIMS_YAML)
        reload(logged_in)
        before = snapshot(session_factory)
        # A valid change beside invalid ones: nothing of either is applied.
        (config_dir / "lms.yaml").write_text(LMS_YAML.replace("aaa", "bbb"))
        (config_dir / "wims.yaml").write_text(BROKEN_WIMS_YAML)

        response = reload(logged_in)

        page = response.follow()
        assert snapshot(session_factory) == before
        text = text_of(page)
        assert "The configuration was not reloaded: 3 problem(s)" in text
        assert "failed, nothing was changed" in text
        problems = [
            [cell.get_text(" ", strip=True) for cell in row.find_all("td")]
            for row in page.html.find("table", class_="problems").find_all("tr")[1:]
        ]
        entry = "wims[1] (id 1)"
        assert ["wims.yaml", "4", entry, "url"] == problems[0][:4]
        assert problems[0][4].startswith("must be the URL of wims.cgi itself")
        assert ["wims.yaml", "8", entry, "class_limit", "must be at least 1"] in (
            problems
        )
        assert [
            "wims.yaml",
            "9",
            entry,
            "allowed_lms[2]",
            "no LMS has the key 'moodle-zz': declare it in an lms: list or create "
            "it in the admin",
        ] in problems
        (last, _first) = sorted(
            rows(session_factory, ConfigReload), key=lambda r: -r.id
        )
        assert last.succeeded is False
        assert last.files == ["lms.yaml", "wims.yaml"]
        for secret in ("yaml-secret-bbb", "yaml-passwd-aaa"):
            assert secret not in page.text

    def test_a_check_shows_what_a_reload_would_do_and_applies_nothing(
        self, logged_in, config_dir, session_factory
    ):
        (config_dir / "lms.yaml").write_text(LMS_YAML)

        page = reload(logged_in, button="Check")

        assert "A reload would do: 1 added" in text_of(page)
        assert rows(session_factory, Lms) == []
        assert rows(session_factory, ConfigReload) == []


class TestSyncConfig:
    @pytest.fixture
    def ini(self, tmp_path, db_url, config_dir):
        return write_gateway_ini(tmp_path / "gateway.ini", db_url, config_dir)

    def test_the_running_gateway_shows_a_command_line_reload(
        self, logged_in, ini, config_dir, capsys
    ):
        assert "No reload recorded yet" in text_of(logged_in.get("/admin/config/"))
        (config_dir / "lms.yaml").write_text(LMS_YAML)

        assert wimslti(["-c", ini, "sync-config"]) == 0

        text = text_of(logged_in.get("/admin/config/"))
        assert "by command line: applied. Files: lms.yaml." in text
        assert "Added (1) LMS moodle-a" in text
        assert "Moodle A" in text_of(logged_in.get("/admin/lms/"))
        dashboard = text_of(logged_in.get("/admin/"))
        assert "by command line: applied (details)" in dashboard

    def test_a_failed_command_line_reload_is_shown_too(
        self, logged_in, ini, config_dir, session_factory
    ):
        (config_dir / "wims.yaml").write_text(BROKEN_WIMS_YAML)

        assert wimslti(["-c", ini, "sync-config"]) == 1

        text = text_of(logged_in.get("/admin/config/"))
        assert "by command line: failed, nothing was changed" in text
        assert rows(session_factory, WimsServer) == []

    def test_a_dry_run_is_not_recorded(self, ini, config_dir, session_factory):
        (config_dir / "lms.yaml").write_text(LMS_YAML)

        assert wimslti(["-c", ini, "sync-config", "--dry-run"]) == 0

        assert rows(session_factory, ConfigReload) == []
