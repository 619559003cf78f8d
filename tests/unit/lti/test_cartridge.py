from defusedxml import ElementTree

from wimslti.lti.cartridge import BLTI, LTICM, Cartridge, cartridge_xml

B = f"{{{BLTI}}}"


def cartridge(**changes):
    fields = {
        "title": "WIMS: Université <Exemple> & co",
        "description": "A class on wims.example.org",
        "launch_url": "https://lti.example.org/lti/C1/",
        "icon_url": "https://lti.example.org/static/wimslti-icon.png",
        "tool_id": "wimslti-C1",
        **changes,
    }
    return ElementTree.fromstring(cartridge_xml(Cartridge(**fields)))


class TestCartridgeXml:
    def test_text_is_escaped_not_interpreted(self):
        root = cartridge()

        assert root.findtext(f"{B}title") == "WIMS: Université <Exemple> & co"

    def test_it_declares_utf8(self):
        xml = cartridge_xml(
            Cartridge("Ω", "d", "https://h/lti/C1/", "https://h/i.png", "t")
        )

        assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert "Ω".encode() in xml

    def test_the_canvas_domain_is_the_launch_host(self):
        root = cartridge(launch_url="https://lti.example.org:8443/w/lti/C1/")

        properties = {
            p.get("name"): p.text
            for p in root.find(f"{B}extensions").findall(f"{{{LTICM}}}property")
        }
        assert properties["domain"] == "lti.example.org:8443"
        assert properties["tool_id"] == "wimslti-C1"

    def test_http_urls_have_no_secure_twin(self):
        root = cartridge(
            launch_url="http://127.0.0.1:6543/lti/C1/",
            icon_url="http://127.0.0.1:6543/static/wimslti-icon.png",
        )

        assert root.find(f"{B}secure_launch_url") is None
        assert root.find(f"{B}secure_icon") is None
