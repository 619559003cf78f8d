"""The admin in a real headless Chromium, without JavaScript, on a phone screen.

Debian's ``chromium`` is driven through Playwright (never ``playwright
install``): the test is skipped where either is missing, and ``.ci/run``
installs Chromium so that CI runs it.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.served import served
from wimslti import main
from wimslti.models import committed_session, get_engine, get_session_factory
from wimslti.services.admin_user import AdminUserService

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
# A phone in portrait, as wide as the narrow ones in use.
PHONE = {"width": 360, "height": 740}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason="no chromium installed"
    ),
]


@pytest.fixture
def gateway(db_url, tmp_path):
    """Serve the gateway on 127.0.0.1 with one administrator; yield its URL."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    engine = get_engine(db_url)
    with committed_session(get_session_factory(engine)) as session:
        AdminUserService(session).create("alice", PASSWORD)
    engine.dispose()
    app = main(
        {},
        **{
            "sqlalchemy.url": db_url,
            "wimslti.config_dir": str(config_dir),
            "wimslti.sync_config_at_start": "false",
            "wimslti.session_secret": "a-test-secret-that-is-long-enough-0123456789",
            # Served over plain http on 127.0.0.1.
            "wimslti.session_cookie_secure": "false",
        },
    )
    try:
        with served(app) as url:
            yield url
    finally:
        app.registry["dbengine"].dispose()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        # The admin must work without JavaScript.
        context = browser.new_context(java_script_enabled=False, viewport=PHONE)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def go_to(page, name):
    """Follow the link ``name`` of the admin's navigation."""
    nav = page.get_by_role("navigation", name="Admin")
    nav.get_by_role("link", name=name, exact=True).click()


def fits_the_screen(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_admin_adds_an_lms_and_a_wims_server_allowing_it(gateway, page, tmp_path):
    screenshots = Path(os.environ.get("WIMSLTI_SCREENSHOTS", tmp_path))
    page.goto(f"{gateway}/admin/lms/")
    assert page.url.startswith(f"{gateway}/login?came_from=")
    page.get_by_label("Login").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.url == f"{gateway}/admin/lms/"

    page.get_by_role("link", name="Add an LMS").click()
    page.get_by_label("Consumer key").fill("moodle-browser")
    page.get_by_label("Shared secret").fill("browser-secret-123")
    page.get_by_label("Instance GUID").fill("moodle.example.edu")
    page.get_by_label("Name").fill("Moodle in a browser")
    page.get_by_label("Address").fill("https://moodle.example.edu/")
    assert fits_the_screen(page)
    page.get_by_role("button", name="Save").click()
    assert "Added the LMS Moodle in a browser." in page.content()

    go_to(page, "WIMS servers")
    page.get_by_role("link", name="Add a WIMS server").click()
    page.get_by_label("Name").fill("WIMS in a browser")
    page.get_by_label("wims.cgi address").fill("http://127.0.0.1:7777/wims/wims.cgi")
    page.get_by_label("Connection ident").fill("wimslti")
    page.get_by_label("Connection password").fill("browser-passwd-123")
    page.get_by_label("Class identifier (rclass)").fill("myclass")
    page.get_by_label("Allowed LMSs").select_option("moodle-browser")
    page.screenshot(path=str(screenshots / "admin-wims-add.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    assert "Added the WIMS server 1 WIMS in a browser." in page.content()

    go_to(page, "WIMS servers")
    row = page.get_by_role("row", name="WIMS in a browser")
    assert "moodle-browser" in row.inner_text()
    assert fits_the_screen(page)
    page.screenshot(path=str(screenshots / "admin-wims-list.png"), full_page=True)
    go_to(page, "LMSs")
    assert page.get_by_role("row", name="Moodle in a browser").count() == 1
    page.screenshot(path=str(screenshots / "admin-lms-list.png"), full_page=True)
    for secret in ("browser-secret-123", "browser-passwd-123", PASSWORD):
        assert secret not in page.content()
