"""Hand out adm/raw clients for the declared WIMS servers."""

import threading
from collections.abc import Callable

import requests

from wimslti.models import WimsServer
from wimslti.wims import WimsClient


class WimsConnector:
    """Make a ``WimsClient`` for a server, reusing connections per thread."""

    def __init__(
        self,
        timeout: float,
        on_call: Callable[[str, float, str], None] | None = None,
    ):
        self.timeout = timeout
        self.on_call = on_call
        self._local = threading.local()

    def client(self, server: WimsServer) -> WimsClient:
        return WimsClient(
            server.url,
            server.ident,
            server.passwd,
            server.rclass,
            timeout=self.timeout,
            session=self._session(),
            on_call=self.on_call,
        )

    def _session(self) -> requests.Session:
        # requests.Session is not safe to share between threads; one per
        # thread keeps keep-alive connections to WIMS without that risk.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


def factory(context, request) -> WimsConnector:
    # One connector per application, so its sessions outlive the request.
    registry = request.registry
    connector = registry.get("wims_connector")
    if connector is None:
        connector = registry["wims_connector"] = WimsConnector(
            registry.settings["wimslti.wims_timeout"],
            on_call=registry["metrics"].observe_adm_raw,
        )
    return connector
