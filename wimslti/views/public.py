"""Public pages: the launch URLs to paste into an LMS, and their cartridges.

``/links/`` lists, per LMS, the WIMS servers it may use with their class
launch URL; ``…/lti/C<n>/cartridge.xml`` (and the same under ``S<m>/`` and
``E<m>/``) is the IMS cartridge an LMS reads to register that URL. Every URL
printed is the public one the LMS will sign, as the proxy middleware made
it. Nothing here lists classes, users or activities.
"""

import logging

from pyramid.httpexceptions import HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config, view_defaults

from wimslti.resources import LinksPage, WimsLaunch
from wimslti.services.cartridge import launch_cartridge, servers_by_lms

log = logging.getLogger(__name__)

ICON = "wimslti:static/wimslti-icon.png"
CARTRIDGE = "cartridge.xml"


@view_defaults(context=LinksPage, permission=NO_PERMISSION_REQUIRED)
class LinksViews:
    def __init__(self, context: LinksPage, request: Request):
        self.context = context
        self.request = request

    @view_config(request_method=("GET", "HEAD"), renderer="public/links.jinja2")
    def links(self) -> dict:
        request = self.request
        root = request.root
        entries = []
        for item in servers_by_lms(request.dbsession):
            servers = []
            for server in item.servers:
                name = f"C{server.id}"
                servers.append(
                    {
                        "server": server,
                        "launch_url": request.resource_url(root, "lti", name, ""),
                        "cartridge_url": request.resource_url(
                            root, "lti", name, CARTRIDGE
                        ),
                    }
                )
            entries.append({"lms": item.lms, "servers": servers})
        return {
            "entries": entries,
            "diagnostic_url": request.resource_url(root, "lti", "test", ""),
        }


@view_defaults(context=WimsLaunch, permission=NO_PERMISSION_REQUIRED)
class CartridgeViews:
    def __init__(self, context: WimsLaunch, request: Request):
        self.context = context
        self.request = request

    @view_config(name=CARTRIDGE, request_method=("GET", "HEAD"))
    def cartridge(self) -> Response:
        server = self.context.server
        if not server.is_active:
            raise HTTPNotFound()
        request = self.request
        body = launch_cartridge(
            server,
            launch_url=request.resource_url(self.context),
            icon_url=request.static_url(ICON),
            kind=self.context.kind,
            qitem=self.context.qitem,
            vendor_url=request.resource_url(request.root, "links", ""),
        )
        return Response(body=body, content_type="application/xml", charset="utf-8")
