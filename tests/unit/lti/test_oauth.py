import time

import pytest
import sqlalchemy as sa

from tests.lti_consumer import BASE_LAUNCH, signed_launch
from wimslti.lti.errors import LaunchNotAuthenticated
from wimslti.lti.oauth import LaunchVerifier, SignedRequest
from wimslti.models import Lms, OAuthNonce

URL = "https://lti.example.org/lti/C1/"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class TestLaunchVerifier:
    def test_it_returns_the_lms_whose_key_signed(self, verifier, lms):
        assert verifier.verify(self.signed()) is lms

    @pytest.mark.parametrize(
        ("fields", "reason"),
        [
            ({"oauth_signature": "AAAA"}, "signature"),
            ({"oauth_consumer_key": "nobody"}, "key"),
            ({"oauth_nonce": ""}, "missing"),
            ({"oauth_signature_method": "RSA-SHA1"}, "method"),
            ({"oauth_timestamp": "12ab"}, "timestamp"),
        ],
    )
    def test_it_names_why_a_launch_is_refused(self, verifier, fields, reason):
        signed = self.signed()
        params = dict(signed.params) | fields

        with pytest.raises(LaunchNotAuthenticated) as caught:
            verifier.verify(SignedRequest(URL, "POST", list(params.items()), FORM))

        assert caught.value.reason == reason

    def test_it_measures_the_clock_offset(self, verifier):
        with pytest.raises(LaunchNotAuthenticated) as caught:
            verifier.verify(self.signed(timestamp=int(time.time()) - 3600))

        assert caught.value.reason == "timestamp"
        assert "-3600 s" in caught.value.detail or "-3599 s" in caught.value.detail

    def test_a_nonce_is_used_once(self, verifier):
        signed = self.signed()
        verifier.verify(signed)

        with pytest.raises(LaunchNotAuthenticated) as caught:
            verifier.verify(signed)

        assert caught.value.reason == "replay"

    def test_a_retired_lms_is_unknown(self, verifier, lms, dbsession):
        lms.retired_at = sa.func.now()
        dbsession.commit()

        with pytest.raises(LaunchNotAuthenticated) as caught:
            verifier.verify(self.signed())

        assert caught.value.reason == "key"

    def test_nonces_out_of_the_window_are_purged(self, verifier, dbsession):
        dbsession.add(OAuthNonce(consumer_key="k", nonce="old", timestamp=1000))
        dbsession.commit()

        verifier.verify(self.signed())

        nonces = dbsession.scalars(sa.select(OAuthNonce.nonce)).all()
        assert "old" not in nonces
        assert len(nonces) == 1

    def signed(self, **kwargs):
        fields = signed_launch(URL, dict(BASE_LAUNCH), "key-1", "sécret", **kwargs)
        return SignedRequest(URL, "POST", fields, FORM)

    @pytest.fixture
    def lms(self, dbsession):
        lms = Lms(key="key-1", secret="sécret", name="LMS")
        dbsession.add(lms)
        dbsession.commit()
        return lms

    @pytest.fixture
    def verifier(self, dbsession, session_factory, lms):
        return LaunchVerifier(dbsession, session_factory, window=600)
