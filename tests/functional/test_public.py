"""The public page of launch URLs, and the cartridges that register them."""

from datetime import datetime

import pytest
import webtest
from defusedxml import ElementTree

from tests.functional.conftest import LMS_SECRET
from tests.functional.launching import teacher_launch
from wimslti import main
from wimslti.lti.cartridge import BLTI, CC, LTICM, LTICP
from wimslti.models import Lms, WimsClass, WimsServer

B = f"{{{BLTI}}}"


def other_server(dbsession, number, lms=(), **fields):
    server = WimsServer(
        id=number,
        name=f"WIMS {number}",
        url=f"http://127.0.0.1:9/wims{number}/wims.cgi",
        ident="wimslti",
        passwd=f"passwd-{number}",
        rclass="myclass",
        allowed_lms=list(lms),
        **fields,
    )
    dbsession.add(server)
    dbsession.commit()
    return server


@pytest.mark.usefixtures("server")
class TestLinksPage:
    def test_it_lists_the_servers_of_each_lms_with_their_launch_url(
        self, testapp, dbsession, lms
    ):
        other = Lms(key="canvas-key", secret="canvas-secret", name="Canvas Exemple")
        dbsession.add(other)
        dbsession.commit()
        other_server(dbsession, 2, [lms, other])

        page = testapp.get("/links/")

        sections = page.html.select("section.lms")
        assert [s.h2.contents[0].strip() for s in sections] == [
            "Canvas Exemple",
            "Moodle Exemple",
        ]
        canvas, moodle = (
            [field["value"] for field in section.select("input.url")]
            for section in sections
        )
        assert canvas == [
            "https://lti.example.org/lti/C2/",
            "https://lti.example.org/lti/C2/cartridge.xml",
        ]
        assert moodle == [
            "https://lti.example.org/lti/C1/",
            "https://lti.example.org/lti/C1/cartridge.xml",
            "https://lti.example.org/lti/C2/",
            "https://lti.example.org/lti/C2/cartridge.xml",
        ]

    def test_each_url_has_a_copy_button(self, testapp):
        page = testapp.get("/links")

        fields = page.html.select("input.url")
        buttons = page.html.select("button[data-copy]")
        assert [b["data-copy"] for b in buttons] == [f["id"] for f in fields]
        assert "navigator.clipboard" in page.text

    def test_it_tells_the_diagnostic_url(self, testapp):
        page = testapp.get("/links/")

        assert "https://lti.example.org/lti/test/" in page.text

    def test_retired_and_closed_servers_are_not_listed(self, testapp, dbsession, lms):
        other_server(dbsession, 2, [lms], retired_at=datetime(2026, 1, 1))
        other_server(dbsession, 3)

        page = testapp.get("/links/")

        assert "/lti/C1/" in page.text
        assert "/lti/C2/" not in page.text
        assert "/lti/C3/" not in page.text

    def test_an_lms_without_server_says_so(self, testapp, dbsession):
        dbsession.add(Lms(key="lonely", secret="lonely-secret", name="Lonely LMS"))
        dbsession.commit()

        page = testapp.get("/links/")

        assert "No WIMS server is open to this LMS yet." in page.text

    def test_no_class_user_or_secret_is_shown(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        dbsession.expire_all()
        qclass = dbsession.query(WimsClass).one().qclass

        page = testapp.get("/links/")

        for hidden in (
            qclass,
            "Algèbre linéaire",
            "Noah",
            "ctx-42",
            LMS_SECRET,
            "wimsltipass",
            wims.url,
        ):
            assert hidden not in page.text

    def test_the_urls_are_the_public_ones(self, app_settings, server):
        app = main(
            {},
            **app_settings,
            **{"wimslti.public_url": "https://gw.example.org/wims-lti"},
        )
        try:
            inner = webtest.TestApp(app, extra_environ={"HTTP_HOST": "127.0.0.1:6543"})

            page = inner.get("/links/")
        finally:
            app.registry["dbengine"].dispose()

        fields = [field["value"] for field in page.html.select("input.url")]
        assert fields[0] == "https://gw.example.org/wims-lti/lti/C1/"


@pytest.mark.usefixtures("server")
class TestCartridge:
    def test_it_registers_the_class_launch_url(self, testapp):
        response = testapp.get("/lti/C1/cartridge.xml")

        assert response.content_type == "application/xml"
        root = ElementTree.fromstring(response.body)
        assert root.tag == f"{{{CC}}}cartridge_basiclti_link"
        assert root.findtext(f"{B}title") == "WIMS: WIMS test"
        assert "127.0.0.1" in root.findtext(f"{B}description")
        assert root.findtext(f"{B}launch_url") == "https://lti.example.org/lti/C1/"
        assert root.findtext(f"{B}secure_launch_url") == (
            "https://lti.example.org/lti/C1/"
        )
        assert root.findtext(f"{B}vendor/{{{LTICP}}}code") == "wimslti"

    def test_its_elements_come_in_the_order_of_the_schema(self, testapp):
        root = ElementTree.fromstring(testapp.get("/lti/C1/cartridge.xml").body)

        assert [child.tag.split("}")[1] for child in root] == [
            "title",
            "description",
            "extensions",
            "launch_url",
            "secure_launch_url",
            "icon",
            "secure_icon",
            "vendor",
            "cartridge_bundle",
            "cartridge_icon",
        ]

    def test_its_icon_is_served(self, testapp):
        root = ElementTree.fromstring(testapp.get("/lti/C1/cartridge.xml").body)
        icon = root.findtext(f"{B}icon")

        assert icon.startswith("https://lti.example.org/static/")
        response = testapp.get(icon.removeprefix("https://lti.example.org"))
        assert response.content_type == "image/png"
        assert response.body.startswith(b"\x89PNG")

    def test_canvas_is_asked_to_share_names_and_emails(self, testapp):
        root = ElementTree.fromstring(testapp.get("/lti/C1/cartridge.xml").body)

        extension = root.find(f"{B}extensions")
        assert extension.get("platform") == "canvas.instructure.com"
        properties = {
            p.get("name"): p.text for p in extension.findall(f"{{{LTICM}}}property")
        }
        assert properties["privacy_level"] == "public"
        assert properties["domain"] == "lti.example.org"

    def test_a_worksheet_has_a_cartridge_of_its_own(self, testapp):
        root = ElementTree.fromstring(testapp.get("/lti/C1/S2/cartridge.xml").body)

        assert root.findtext(f"{B}launch_url") == "https://lti.example.org/lti/C1/S2/"
        assert root.findtext(f"{B}title") == "WIMS: WIMS test, worksheet 2"

    def test_an_http_gateway_gives_no_secure_url(self, app):
        plain = webtest.TestApp(app, extra_environ={"HTTP_HOST": "127.0.0.1:6543"})

        root = ElementTree.fromstring(plain.get("/lti/C1/E3/cartridge.xml").body)

        assert root.findtext(f"{B}launch_url") == "http://127.0.0.1:6543/lti/C1/E3/"
        assert root.find(f"{B}secure_launch_url") is None

    def test_a_retired_or_unknown_server_has_none(self, testapp, dbsession):
        other_server(dbsession, 2, retired_at=datetime(2026, 1, 1))

        testapp.get("/lti/C2/cartridge.xml", status=404)
        testapp.get("/lti/C9/cartridge.xml", status=404)
