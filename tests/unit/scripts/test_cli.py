import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.gateway_ini import write_gateway_ini as write_ini
from wimslti.models import Lms, WimsServer, get_engine, get_session_factory
from wimslti.scripts.cli import COMMANDS, build_parser, main

PROJECT = Path(__file__).resolve().parents[3]
CONSOLE_SCRIPT = Path(sys.executable).parent / "wimslti"

LMS = """\
lms:
  - key: moodle-a
    secret: s3cr3t-a
    name: Moodle A
"""

WIMS = """\
wims:
  - id: 1
    name: Local WIMS
    url: http://127.0.0.1:7777/wims/wims.cgi
    ident: wimslti
    passwd: wimsltipass
    rclass: myclass
    allowed_lms: [moodle-a]
"""


def rows(database_url, model):
    engine = get_engine(database_url)
    try:
        with get_session_factory(engine)() as session:
            return session.scalars(sa.select(model)).all()
    finally:
        engine.dispose()


class TestMain:
    def test_help_lists_the_commands(self, capsys):
        assert main(["--help"]) == 0

        out = capsys.readouterr().out
        for command in COMMANDS:
            assert command.name in out

    def test_it_requires_a_command(self, ini, capsys):
        assert main(["-c", ini]) == 2

        assert "required" in capsys.readouterr().err

    def test_initdb_migrates_then_syncs(self, tmp_path, config_dir, capsys):
        database_url = f"sqlite:///{tmp_path / 'new.sqlite'}"
        ini = write_ini(tmp_path / "new.ini", database_url, config_dir)

        assert main(["-c", ini, "initdb"]) == 0

        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"Migrated {database_url} to the newest revision",
            "added LMS moodle-a",
            "added WIMS 1 http://127.0.0.1:7777/wims/wims.cgi",
            f"Synced {config_dir}: 2 added, 0 updated, 0 unchanged, 0 retired",
        ]
        [server] = rows(database_url, WimsServer)
        assert (server.id, server.ident) == (1, "wimslti")

    def test_initdb_twice_is_harmless(self, tmp_path, config_dir, capsys):
        ini = write_ini(
            tmp_path / "new.ini", f"sqlite:///{tmp_path / 'new.sqlite'}", config_dir
        )
        main(["-c", ini, "initdb"])

        assert main(["-c", ini, "initdb"]) == 0

        assert (
            capsys.readouterr()
            .out.splitlines()[-1]
            .endswith("0 added, 0 updated, 2 unchanged, 0 retired")
        )

    def test_sync_config_prints_the_report(self, ini, db_url, config_dir, capsys):
        assert main(["-c", ini, "sync-config"]) == 0
        (config_dir / "lms.yaml").write_text(LMS.replace("s3cr3t-a", "s3cr3t-b"))
        capsys.readouterr()

        assert main(["-c", ini, "sync-config"]) == 0

        out = capsys.readouterr().out
        assert out.splitlines() == [
            "updated LMS moodle-a (changed: secret)",
            f"Synced {config_dir}: 0 added, 1 updated, 1 unchanged, 0 retired",
        ]
        assert "s3cr3t" not in out
        assert [row.secret for row in rows(db_url, Lms)] == ["s3cr3t-b"]

    def test_dry_run_writes_nothing(self, ini, db_url, capsys):
        assert main(["-c", ini, "sync-config", "--dry-run"]) == 0

        assert "Would sync" in capsys.readouterr().out
        assert rows(db_url, Lms) == []

    def test_invalid_files_are_reported_one_per_line(
        self, ini, db_url, config_dir, capsys
    ):
        (config_dir / "lms.yaml").write_text(
            LMS + "  - key: moodle-b\n    secret: 1234\n"
        )

        assert main(["-c", ini, "sync-config"]) == 1

        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.splitlines() == [
            "lms.yaml:5: lms[2] (key moodle-b): name: Required",
            "lms.yaml:6: lms[2] (key moodle-b): secret: "
            "must be text (put the value in quotes)",
            f"wimslti: 2 problem(s) in the YAML declarations in {config_dir}; "
            "the database was not changed",
        ]
        assert rows(db_url, Lms) == []

    def test_the_environment_overrides_the_ini(
        self, tmp_path, db_url, config_dir, monkeypatch, capsys
    ):
        ini = write_ini(tmp_path / "other.ini", "sqlite:///nowhere.sqlite", "nowhere")
        monkeypatch.setenv("WIMSLTI_DATABASE_URL", db_url)
        monkeypatch.setenv("WIMSLTI_CONFIG_DIR", str(config_dir))

        assert main(["-c", ini, "sync-config"]) == 0

        assert [row.key for row in rows(db_url, Lms)] == ["moodle-a"]

    def test_it_asks_for_initdb_on_an_unmigrated_database(
        self, tmp_path, config_dir, capsys
    ):
        ini = write_ini(
            tmp_path / "new.ini", f"sqlite:///{tmp_path / 'new.sqlite'}", config_dir
        )

        assert main(["-c", ini, "sync-config"]) == 1

        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("wimslti sync-config: the database sqlite:///")
        assert line.endswith(
            f"is not migrated to the newest revision: run `wimslti -c {ini} initdb`"
        )

    @pytest.mark.parametrize(
        ("database_url", "config_dir", "message"),
        [
            (
                "sqlite:////nonexistent-wimslti/db.sqlite",
                "config",
                "wimslti initdb: the database sqlite:////nonexistent-wimslti/db.sqlite "
                "failed: unable to open database file",
            ),
            (
                "not a url",
                "config",
                "wimslti initdb: cannot use the database URL sqlalchemy.url: "
                "Could not parse SQLAlchemy URL from given URL string",
            ),
            ("", "config", "setting sqlalchemy.url is required"),
            ("sqlite://", "", "setting wimslti.config_dir is required"),
        ],
    )
    def test_expected_failures_are_one_line(
        self, tmp_path, database_url, config_dir, message, capsys
    ):
        ini = write_ini(tmp_path / "bad.ini", database_url, config_dir)

        assert main(["-c", ini, "initdb"]) == 1

        [line] = capsys.readouterr().err.splitlines()
        assert line.endswith(message)

    def test_it_reports_a_missing_ini(self, tmp_path, capsys):
        missing = tmp_path / "missing.ini"

        assert main(["-c", str(missing), "sync-config"]) == 1

        assert capsys.readouterr().err == (
            f"wimslti sync-config: cannot read {missing}: no such file\n"
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[app:main]\nthe password hunter2\n", "syntax error on line 2"),
            ("hunter2 = 1\n[app:main]\n", "line 1 comes before any [section]"),
            (
                "[app:main]\nsqlalchemy.url = postgresql://u:hunter2%(x)s@db/w\n",
                "bad %(...)s substitution in sqlalchemy.url of [app:main]",
            ),
        ],
    )
    def test_it_never_quotes_a_broken_ini(self, tmp_path, text, message, capsys):
        ini = tmp_path / "broken.ini"
        ini.write_text(text)

        assert main(["-c", str(ini), "sync-config"]) == 1

        err = capsys.readouterr().err
        assert err == f"wimslti sync-config: cannot read {ini}: {message}\n"
        assert "hunter2" not in err

    def test_it_reports_an_ini_without_app(self, tmp_path, capsys):
        ini = tmp_path / "noapp.ini"
        ini.write_text("[server:main]\nuse = egg:waitress#main\n")

        assert main(["-c", str(ini), "sync-config"]) == 1

        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith(f"wimslti sync-config: cannot read {ini}: ")

    def test_commands_have_unique_names(self):
        names = [command.name for command in COMMANDS]

        assert len(names) == len(set(names))
        assert build_parser().prog == "wimslti"

    @pytest.fixture
    def config_dir(self, tmp_path):
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "lms.yaml").write_text(LMS)
        (folder / "wims.yaml").write_text(WIMS)
        return folder

    @pytest.fixture
    def ini(self, tmp_path, db_url, config_dir):
        return write_ini(tmp_path / "app.ini", db_url, config_dir)


class TestConsoleScript:
    def test_help_exits_0_and_lists_the_commands(self):
        result = self.run("--help")

        assert result.returncode == 0
        assert "initdb" in result.stdout
        assert "sync-config" in result.stdout

    def test_a_failing_command_exits_non_zero_with_one_line(self, tmp_path):
        result = self.run("-c", str(tmp_path / "missing.ini"), "sync-config")

        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"wimslti sync-config: cannot read {tmp_path / 'missing.ini'}: no such file"
        ]

    def test_a_usage_error_exits_2(self):
        result = self.run("-c", "development.ini", "no-such-command")

        assert result.returncode == 2
        assert "Traceback" not in result.stderr

    def test_the_project_config_syncs(self, tmp_path):
        database_url = f"sqlite:///{tmp_path / 'dev.sqlite'}"
        ini = write_ini(tmp_path / "dev.ini", database_url, PROJECT / "config")

        result = self.run("-c", ini, "initdb")

        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].endswith(
            "2 added, 0 updated, 0 unchanged, 0 retired"
        )

    @staticmethod
    def run(*args):
        return subprocess.run(
            [str(CONSOLE_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=PROJECT,
            env={"PATH": "/usr/bin:/bin"},
        )
