"""The gateway served to WebTest, against a WIMS double on 127.0.0.1."""

import pytest
import webtest

from tests.doubles.wims import WimsDouble
from wimslti import main
from wimslti.models import Lms, WimsServer

PUBLIC_HOST = "lti.example.org"
LMS_KEY = "moodle-key-01"
# The secret of case B: non-ASCII and characters that need percent-encoding.
LMS_SECRET = "s3cr3t-Ω%&"
LMS_GUID = "moodle.example.edu"


@pytest.fixture
def wims():
    with WimsDouble.serve(
        ident="wimslti", passwd="wimsltipass", rclass="myclass"
    ) as double:
        yield double


@pytest.fixture
def app_settings(db_url, tmp_path):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    return {
        "sqlalchemy.url": db_url,
        "wimslti.config_dir": str(config_dir),
        "wimslti.sync_config_at_start": "false",
        "wimslti.wims_timeout": "2",
        "wimslti.claim_wait": "4",
        # The base launch says fr-FR: these tests read the English pages
        # (tests/functional/test_i18n.py turns French on).
        "wimslti.languages": "en",
    }


@pytest.fixture
def app(app_settings):
    app = main({}, **app_settings)
    yield app
    app.registry["dbengine"].dispose()


@pytest.fixture
def testapp(app):
    return webtest.TestApp(
        app,
        extra_environ={"HTTP_HOST": PUBLIC_HOST, "wsgi.url_scheme": "https"},
    )


@pytest.fixture
def lms(dbsession):
    lms = Lms(key=LMS_KEY, secret=LMS_SECRET, guid=LMS_GUID, name="Moodle Exemple")
    dbsession.add(lms)
    dbsession.commit()
    return lms


@pytest.fixture
def server(dbsession, wims, lms):
    server = WimsServer(
        id=1,
        name="WIMS test",
        url=wims.url,
        ident="wimslti",
        passwd="wimsltipass",
        rclass="myclass",
        class_limit=150,
        class_lifetime_days=365,
        allowed_lms=[lms],
    )
    dbsession.add(server)
    dbsession.commit()
    return server
