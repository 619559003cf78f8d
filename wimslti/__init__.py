"""wimslti: an LTI gateway between learning platforms and WIMS servers."""

import logging
import os
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from wimslti.body_limit import BodyLimitMiddleware
from wimslti.proxy import PublicUrlMiddleware
from wimslti.request import GatewayRequest
from wimslti.settings import load_settings

log = logging.getLogger(__name__)


def main(global_config: dict[str, Any] | None, **settings: Any) -> Any:
    """Return the gateway's WSGI application."""
    settings = load_settings(settings, dict(os.environ))
    with Configurator(settings=settings) as config:
        config.set_request_factory(GatewayRequest)
        config.include("pyramid_jinja2")
        config.add_jinja2_search_path("wimslti:templates", name=".jinja2")
        # The locale negotiator, the translations and their Jinja2 filter.
        config.include("wimslti.i18n")
        config.include("pyramid_services")
        config.include("wimslti.models")
        config.include("wimslti.metrics")
        config.include("wimslti.resources")
        config.include("wimslti.services")
        # pyramid_mailer and the class credentials mail.
        config.include("wimslti.services.mail")
        config.include("wimslti.services.admin")
        # The class page of teachers, and the signer of their passes to it.
        config.include("wimslti.services.class_links")
        # The admin's session cookie and the ACL-based security policy.
        config.include("wimslti.security")
        config.include("wimslti.config")
        config.include("wimslti.views.launch_log")
        config.add_static_view("static", "wimslti:static", cache_max_age=3600)
        config.scan("wimslti.views")
    router: Router = config.make_wsgi_app()
    app = PublicUrlMiddleware(
        BodyLimitMiddleware(router),
        trusted_proxies=settings["wimslti.trusted_proxies"],
        public_url=settings["wimslti.public_url"],
    )
    # Scripts and tests reach the database engine and services through it.
    app.registry = router.registry
    return app
