from pathlib import Path

import pytest
from pyramid.paster import get_appsettings

from wimslti.settings import SettingsError, load_settings

PROJECT = Path(__file__).resolve().parents[2]

BASE = {"sqlalchemy.url": "sqlite://", "wimslti.config_dir": "/tmp"}
SECRET = "a-session-secret-long-enough-for-hmac-1234"


class TestSessionSecretSetting:
    def test_it_comes_from_the_ini(self):
        settings = load_settings({**BASE, "wimslti.session_secret": SECRET}, {})

        assert settings["wimslti.session_secret"] == SECRET

    def test_the_environment_overrides_the_ini(self):
        settings = load_settings(
            {**BASE, "wimslti.session_secret": "${WIMSLTI_SESSION_SECRET}"},
            {"WIMSLTI_SESSION_SECRET": SECRET},
        )

        assert settings["wimslti.session_secret"] == SECRET

    def test_an_unset_variable_fails_clearly(self):
        with pytest.raises(SettingsError) as error:
            load_settings(
                {**BASE, "wimslti.session_secret": "${WIMSLTI_SESSION_SECRET}"}, {}
            )

        assert str(error.value) == (
            "setting wimslti.session_secret: the environment variable "
            "WIMSLTI_SESSION_SECRET is not set"
        )

    def test_a_short_secret_is_refused_without_being_shown(self):
        with pytest.raises(SettingsError) as error:
            load_settings({**BASE, "wimslti.session_secret": "tiny-secret"}, {})

        assert "at least 32 characters" in str(error.value)
        assert "tiny-secret" not in str(error.value)

    def test_it_may_be_left_out(self):
        assert load_settings(BASE, {})["wimslti.session_secret"] == ""

    def test_the_cookie_is_secure_unless_told(self):
        assert load_settings(BASE, {})["wimslti.session_cookie_secure"] is True
        settings = load_settings({**BASE, "wimslti.session_cookie_secure": "false"}, {})
        assert settings["wimslti.session_cookie_secure"] is False


class TestIniFiles:
    def test_production_fails_clearly_without_the_variable(self):
        with pytest.raises(SettingsError, match="WIMSLTI_SESSION_SECRET is not set"):
            load_settings(get_appsettings(str(PROJECT / "production.ini")), {})

    def test_production_takes_the_secret_from_the_environment(self):
        settings = load_settings(
            get_appsettings(str(PROJECT / "production.ini")),
            {"WIMSLTI_SESSION_SECRET": SECRET},
        )

        assert settings["wimslti.session_secret"] == SECRET
        assert settings["wimslti.session_cookie_secure"] is True

    def test_development_has_a_secret_of_its_own(self):
        settings = load_settings(get_appsettings(str(PROJECT / "development.ini")), {})

        assert settings["wimslti.session_secret"].startswith("dev-only-")
        assert settings["wimslti.session_cookie_secure"] is False
