import io
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.gateway_ini import write_gateway_ini
from wimslti.models import AdminUser, get_engine, get_session_factory
from wimslti.scripts.cli import main
from wimslti.services.admin_user import AdminUserService

PROJECT = Path(__file__).resolve().parents[3]
CONSOLE_SCRIPT = Path(sys.executable).parent / "wimslti"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def ini(tmp_path, db_url):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    return write_gateway_ini(tmp_path / "gateway.ini", db_url, config_dir)


def admins(db_url):
    engine = get_engine(db_url)
    try:
        with get_session_factory(engine)() as session:
            return session.scalars(sa.select(AdminUser)).all()
    finally:
        engine.dispose()


def authenticate(db_url, login, password):
    engine = get_engine(db_url)
    try:
        with get_session_factory(engine)() as session:
            return AdminUserService(session).authenticate(login, password) is not None
    finally:
        engine.dispose()


def run(monkeypatch, ini, command, stdin=""):
    """Run ``wimslti -c INI <command>`` with ``stdin`` as its standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["-c", ini, *command.split()])


class TestCreateAdmin:
    def test_it_reads_the_password_from_stdin(self, ini, db_url, monkeypatch, capsys):
        command = "create-admin alice --password-stdin"
        status = run(monkeypatch, ini, command, stdin=PASSWORD + "\n")

        assert status == 0
        assert capsys.readouterr().out == "Created the administrator alice\n"
        assert [user.login for user in admins(db_url)] == ["alice"]
        assert authenticate(db_url, "alice", PASSWORD)

    def test_the_console_script_takes_a_piped_password(self, ini, db_url):
        result = subprocess.run(
            [CONSOLE_SCRIPT, "-c", ini, "create-admin", "bob", "--password-stdin"],
            input=PASSWORD,
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert authenticate(db_url, "bob", PASSWORD)

    def test_a_short_password_fails_in_one_line(self, ini, db_url, monkeypatch, capsys):
        command = "create-admin alice --password-stdin"
        status = run(monkeypatch, ini, command, stdin="short\n")

        assert status == 1
        assert capsys.readouterr().err == (
            "wimslti create-admin: the password must be at least 12 characters long\n"
        )
        assert admins(db_url) == []

    def test_a_login_is_created_once(self, ini, monkeypatch, capsys):
        command = "create-admin alice --password-stdin"
        run(monkeypatch, ini, command, stdin=PASSWORD)

        assert run(monkeypatch, ini, command, stdin=PASSWORD) == 1

        assert "exists already: use set-password" in capsys.readouterr().err

    def test_without_a_terminal_it_asks_for_password_stdin(
        self, ini, db_url, monkeypatch, capsys
    ):
        assert run(monkeypatch, ini, "create-admin alice") == 1

        assert "--password-stdin" in capsys.readouterr().err
        assert admins(db_url) == []

    def test_it_needs_a_migrated_database(self, tmp_path, monkeypatch, capsys):
        ini = tmp_path / "empty.ini"
        ini.write_text(
            "[app:main]\nuse = egg:wimslti\n"
            f"sqlalchemy.url = sqlite:///{tmp_path / 'x.sqlite'}\n"
            f"wimslti.config_dir = {tmp_path}\n"
            f"[alembic]\nscript_location = {PROJECT / 'alembic'}\n"
        )

        command = "create-admin alice --password-stdin"
        status = run(monkeypatch, str(ini), command, stdin=PASSWORD)

        assert status == 1
        assert "is not migrated to the newest revision" in capsys.readouterr().err


class TestSetPassword:
    def test_it_changes_the_password(self, ini, db_url, monkeypatch, capsys):
        run(monkeypatch, ini, "create-admin alice --password-stdin", stdin=PASSWORD)

        command = "set-password alice --password-stdin"
        status = run(monkeypatch, ini, command, stdin="another long password\r\n")

        assert status == 0
        assert "Changed the password of alice" in capsys.readouterr().out
        assert authenticate(db_url, "alice", "another long password")
        assert not authenticate(db_url, "alice", PASSWORD)

    def test_an_unknown_login_fails(self, ini, monkeypatch, capsys):
        status = run(
            monkeypatch, ini, "set-password bob --password-stdin", stdin=PASSWORD
        )

        assert status == 1
        assert capsys.readouterr().err == (
            "wimslti set-password: there is no administrator bob\n"
        )
