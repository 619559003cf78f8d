"""Registration helpers: which WIMS servers each LMS may use, and cartridges.

Only what an LMS administrator or a teacher needs to register the tool is
told here (LMS names, WIMS server names, launch URLs). Classes, users and
activities are never listed: that is for the administrators, under /admin/.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wimslti.lti.cartridge import Cartridge, cartridge_xml
from wimslti.models import ActivityKind, Lms, WimsServer


@dataclass(frozen=True)
class LmsServers:
    """One LMS and the active WIMS servers open to it."""

    lms: Lms
    servers: list[WimsServer]


def servers_by_lms(dbsession: Session) -> list[LmsServers]:
    """Return every active LMS with the active WIMS servers it may launch."""
    lmss = dbsession.scalars(
        sa.select(Lms).where(Lms.retired_at.is_(None)).order_by(Lms.name, Lms.key)
    ).all()
    servers = dbsession.scalars(
        sa.select(WimsServer)
        .where(WimsServer.retired_at.is_(None))
        .order_by(WimsServer.id)
    ).all()
    return [
        LmsServers(lms, [server for server in servers if server.allows(lms)])
        for lms in lmss
    ]


def launch_cartridge(
    server: WimsServer,
    launch_url: str,
    icon_url: str,
    kind: ActivityKind | None = None,
    qitem: int | None = None,
    vendor_url: str = "",
) -> bytes:
    """Return the cartridge XML registering ``launch_url`` of ``server``."""
    wims_host = urlsplit(server.url).netloc
    tool_id = f"wimslti-C{server.id}"
    if kind is None:
        title = f"WIMS: {server.name}"
        description = (
            f"The course's WIMS class on {server.name} ({wims_host}). The "
            "first launch by a teacher of the course creates the class; "
            "students then enter it logged in."
        )
    else:
        words = "worksheet" if kind is ActivityKind.SHEET else "exam"
        letter = "S" if kind is ActivityKind.SHEET else "E"
        tool_id += f"-{letter}{qitem}"
        title = f"WIMS: {server.name}, {words} {qitem}"
        description = (
            f"{words.capitalize()} {qitem} of the course's WIMS class on "
            f"{server.name} ({wims_host}); its grades go back to the LMS."
        )
    return cartridge_xml(
        Cartridge(
            title=title,
            description=description,
            launch_url=launch_url,
            icon_url=icon_url,
            tool_id=tool_id,
            vendor_url=vendor_url,
        )
    )
