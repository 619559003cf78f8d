"""Check the OAuth 1.0a signature of an LTI 1.1 launch.

The signature is checked by oauthlib's ``SignatureOnlyEndpoint`` with a
validator that looks the secret up by consumer key in the database. The LMS
of a launch is the one whose key signed it. Nonces are stored, once, under a
unique key, so a captured launch cannot be replayed; they are purged once
their timestamp has left the window.
"""

import logging
import string
import time
from collections.abc import MutableSet, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1
from sqlalchemy.orm import Session, sessionmaker

from wimslti.i18n import _
from wimslti.lti.errors import LaunchNotAuthenticated
from wimslti.models import Lms, OAuthNonce, committed_session

log = logging.getLogger(__name__)

OAUTH_REQUIRED = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_signature",
    "oauth_signature_method",
)
NOT_AUTHENTICATED = _(
    "The LMS could not be recognised: this launch is not signed with a key "
    "and secret known to the gateway. Ask the LMS administrator to check the "
    "tool's consumer key and secret."
)


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of an HTTP request."""

    url: str
    method: str
    params: Sequence[tuple[str, str]]
    headers: dict[str, str]


class _DatabaseValidator(RequestValidator):
    """The oauthlib validator: secrets from the LMS table, nonces elsewhere."""

    enforce_ssl = False
    # LMS keys and nonces come in many shapes (UUIDs, dots, dashes).
    safe_characters = set(string.printable) - set(string.whitespace)
    client_key_length = (1, 255)
    nonce_length = (1, 255)
    dummy_client = "dummy-client-key-that-matches-no-lms"

    def __init__(self, lms: Lms | None, window: int):
        super().__init__()
        self.lms = lms
        self.window = window

    @property
    def timestamp_lifetime(self) -> int:  # type: ignore[override]
        return self.window

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:  # type: ignore[override]
        return (SIGNATURE_HMAC_SHA1,)

    def validate_client_key(self, client_key, request) -> bool:
        return self.lms is not None and client_key == self.lms.key

    def get_client_secret(self, client_key, request) -> str:
        if self.lms is not None and client_key == self.lms.key:
            return self.lms.secret
        # A secret that matches nothing keeps the check's timing the same.
        return "dummy-secret"

    def validate_timestamp_and_nonce(
        self,
        client_key,
        timestamp,
        nonce,
        request,
        request_token=None,
        access_token=None,
    ) -> bool:
        # Checked by LaunchVerifier before and after, with reasons it can name.
        return True


class LaunchVerifier:
    """Tell which LMS signed a launch, or why the launch is not authentic."""

    def __init__(
        self,
        dbsession: Session,
        session_factory: sessionmaker[Session],
        window: int,
        clock=time.time,
    ):
        self.dbsession = dbsession
        self.session_factory = session_factory
        self.window = window
        self.clock = clock

    def verify(
        self, signed: SignedRequest, used_here: MutableSet[tuple] | None = None
    ) -> Lms:
        """Return the LMS whose key signed ``signed``.

        ``used_here`` holds the nonces this very request used: when the whole
        request is replayed after a transient database error, its own nonce
        is not a replay.

        :raises LaunchNotAuthenticated: with the reason (``missing``,
            ``method``, ``timestamp``, ``key``, ``signature``, ``replay``).
        """
        params = dict(signed.params)
        missing = [name for name in OAUTH_REQUIRED if not params.get(name)]
        if missing:
            raise LaunchNotAuthenticated(
                "missing",
                _(
                    "This launch is not signed: ${names} missing.",
                    mapping={"names": ", ".join(missing)},
                ),
            )
        if params["oauth_signature_method"] != SIGNATURE_HMAC_SHA1:
            raise LaunchNotAuthenticated(
                "method",
                _(
                    "This launch is signed with ${method}; the gateway accepts "
                    "HMAC-SHA1, as LTI 1.1 requires.",
                    mapping={"method": repr(params["oauth_signature_method"])},
                ),
            )
        self._check_timestamp(params["oauth_timestamp"])

        key = params["oauth_consumer_key"]
        lms = self.dbsession.scalars(
            sa.select(Lms).where(Lms.key == key, Lms.retired_at.is_(None))
        ).one_or_none()
        endpoint = SignatureOnlyEndpoint(_DatabaseValidator(lms, self.window))
        valid = endpoint.validate_request(
            signed.url, signed.method, list(signed.params), signed.headers
        )[0]
        if lms is None:
            raise LaunchNotAuthenticated(
                "key", NOT_AUTHENTICATED, detail=f"unknown consumer key {key!r}"
            )
        if not valid:
            raise LaunchNotAuthenticated(
                "signature",
                NOT_AUTHENTICATED,
                detail=f"bad signature for consumer key {key!r} on {signed.url}",
            )
        nonce = (key, params["oauth_nonce"], int(params["oauth_timestamp"]))
        if used_here is None or nonce not in used_here:
            self._use_nonce(*nonce)
            if used_here is not None:
                used_here.add(nonce)
        return lms

    def _check_timestamp(self, timestamp: str) -> None:
        if not timestamp.isdigit():
            raise LaunchNotAuthenticated(
                "timestamp", _("This launch has an invalid oauth_timestamp.")
            )
        offset = int(timestamp) - int(self.clock())
        if abs(offset) > self.window:
            raise LaunchNotAuthenticated(
                "timestamp",
                _(
                    "This launch is too old or comes from a clock that is off: "
                    "launch the activity again from the LMS, and if it happens "
                    "again ask the LMS administrator to check the server's clock."
                ),
                detail=f"oauth_timestamp is {offset:+d} s from the gateway's "
                f"clock (window ±{self.window} s)",
            )

    def _use_nonce(self, key: str, nonce: str, timestamp: int) -> None:
        try:
            with committed_session(self.session_factory) as session:
                session.add(
                    OAuthNonce(consumer_key=key, nonce=nonce, timestamp=timestamp)
                )
        except sa.exc.IntegrityError:
            raise LaunchNotAuthenticated(
                "replay",
                _(
                    "This launch was already used. Click the link in your LMS "
                    "again to start a new one."
                ),
                detail=f"nonce replayed for consumer key {key!r}",
            ) from None
        self._purge_nonces()

    def _purge_nonces(self) -> None:
        # A nonce outside the window can no longer be replayed: the timestamp
        # check refuses it first.
        horizon = int(self.clock()) - self.window - 60
        if _last_purge.get(self.session_factory, 0) > horizon + self.window // 2:
            return
        _last_purge[self.session_factory] = int(self.clock())
        with committed_session(self.session_factory) as session:
            session.execute(sa.delete(OAuthNonce).where(OAuthNonce.timestamp < horizon))


# When each database's nonces were last purged, so that not every launch
# runs the DELETE.
_last_purge: dict[object, int] = {}
