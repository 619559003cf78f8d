"""A launch through waitress configured as the ini files serve the gateway."""

import configparser
import threading
from pathlib import Path

import pytest
import requests
from waitress.server import create_server

from tests.functional.conftest import LMS_KEY, LMS_SECRET
from tests.lti_consumer import TEACHER, launch_params, signed_launch

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://lti.example.org/wims-lti/lti/C1/"
FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "lti.example.org",
    "X-Forwarded-Prefix": "/wims-lti",
}


def waitress_settings(ini: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / ini)
    settings = dict(parser["server:main"])
    settings.pop("use")
    settings["listen"] = "127.0.0.1:0"
    return settings


@pytest.fixture(params=["development.ini", "production.ini"])
def served_like_the_ini(request, app):
    server = create_server(app, **waitress_settings(request.param))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.mark.usefixtures("server")
class TestBehindAProxyThroughWaitress:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "wimslti.trusted_proxies": "127.0.0.1 ::1"}

    def test_a_launch_signed_for_the_public_url_is_accepted(
        self, served_like_the_ini, wims
    ):
        fields = signed_launch(PUBLIC_URL, launch_params(TEACHER), LMS_KEY, LMS_SECRET)

        response = requests.post(
            f"{served_like_the_ini}/lti/C1/",
            data=fields,
            headers={**FORWARDED, "Connection": "close"},
            allow_redirects=False,
            timeout=30,
        )

        assert response.status_code == 302
        assert wims.count("addclass") == 1
