"""wimslti: an LTI gateway between learning platforms and WIMS servers."""

import logging
import os
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from wimslti.proxy import PublicUrlMiddleware
from wimslti.settings import load_settings

log = logging.getLogger(__name__)


def main(global_config: dict[str, Any] | None, **settings: Any) -> Any:
    """Return the gateway's WSGI application."""
    settings = load_settings(settings, dict(os.environ))
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")
        config.add_jinja2_search_path("wimslti:templates", name=".jinja2")
        config.include("pyramid_services")
        config.include("wimslti.models")
        config.include("wimslti.resources")
        config.include("wimslti.services")
        config.include("wimslti.config")
        config.include("wimslti.views.launch_log")
        config.add_static_view("static", "wimslti:static", cache_max_age=3600)
        config.scan("wimslti.views")
    app: Router = config.make_wsgi_app()
    return PublicUrlMiddleware(
        app,
        trusted_proxies=settings["wimslti.trusted_proxies"],
        public_url=settings["wimslti.public_url"],
    )
