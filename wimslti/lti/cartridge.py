"""IMS LTI 1.1 cartridges: the XML an LMS reads to register a tool by URL.

The document is a ``cartridge_basiclti_link`` of the IMS Common Cartridge
Basic LTI link schema (imslticc_v1p0). Its children come in the order the
schema fixes: title, description, extensions, launch URLs, icons, vendor,
then the bundle and icon references. Moodle reads the title, description,
launch URLs and icons of it; Canvas ("Add App" by URL or by pasted XML) also
reads the ``canvas.instructure.com`` extension, whose ``privacy_level`` must
be ``public`` for Canvas to send the names and e-mail addresses the WIMS
class needs.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree

CC = "http://www.imsglobal.org/xsd/imslticc_v1p0"
BLTI = "http://www.imsglobal.org/xsd/imsbasiclti_v1p0"
LTICM = "http://www.imsglobal.org/xsd/imslticm_v1p0"
LTICP = "http://www.imsglobal.org/xsd/imslticp_v1p0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATIONS = " ".join(
    f"{namespace} http://www.imsglobal.org/xsd/lti/ltiv1p0/{name}.xsd"
    for namespace, name in (
        (CC, "imslticc_v1p0"),
        (BLTI, "imsbasiclti_v1p0"),
        (LTICM, "imslticm_v1p0"),
        (LTICP, "imslticp_v1p0"),
    )
)
CANVAS_PLATFORM = "canvas.instructure.com"
VENDOR_CODE = "wimslti"

# The prefixes are written out, not registered with ElementTree: its prefix
# registry is global to the process.
NAMESPACES = {
    "xmlns": CC,
    "xmlns:blti": BLTI,
    "xmlns:lticm": LTICM,
    "xmlns:lticp": LTICP,
    "xmlns:xsi": XSI,
}


@dataclass(frozen=True)
class Cartridge:
    """What an LMS is told about one launch URL of the gateway."""

    title: str
    description: str
    launch_url: str
    icon_url: str
    # A name that tells this tool from the gateway's other cartridges.
    tool_id: str
    vendor_name: str = "wimslti"
    vendor_url: str = ""


def cartridge_xml(cartridge: Cartridge) -> bytes:
    """Return the ``cartridge_basiclti_link`` document of ``cartridge``."""
    root = ElementTree.Element(
        "cartridge_basiclti_link",
        {**NAMESPACES, "xsi:schemaLocation": SCHEMA_LOCATIONS},
    )
    _add(root, "blti:title", cartridge.title)
    _add(root, "blti:description", cartridge.description)

    extensions = _add(root, "blti:extensions", platform=CANVAS_PLATFORM)
    for name, value in (
        ("tool_id", cartridge.tool_id),
        ("privacy_level", "public"),
        ("domain", urlsplit(cartridge.launch_url).netloc),
        ("icon_url", cartridge.icon_url),
    ):
        _add(extensions, "lticm:property", value, name=name)

    _add(root, "blti:launch_url", cartridge.launch_url)
    # The URL an LMS served over https prefers; the gateway has one only
    # when its public URL is https.
    if cartridge.launch_url.startswith("https://"):
        _add(root, "blti:secure_launch_url", cartridge.launch_url)
    _add(root, "blti:icon", cartridge.icon_url)
    if cartridge.icon_url.startswith("https://"):
        _add(root, "blti:secure_icon", cartridge.icon_url)

    vendor = _add(root, "blti:vendor")
    _add(vendor, "lticp:code", VENDOR_CODE)
    _add(vendor, "lticp:name", cartridge.vendor_name)
    _add(vendor, "lticp:description", "LTI gateway between LMSs and WIMS servers")
    if cartridge.vendor_url:
        _add(vendor, "lticp:url", cartridge.vendor_url)

    _add(root, "cartridge_bundle", identifierref="BLTI001_Bundle")
    _add(root, "cartridge_icon", identifierref="BLTI001_Icon")
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def _add(
    parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str
) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag, attributes)
    element.text = text
    return element
