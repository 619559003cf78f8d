"""Post signed launches to the gateway the way an LMS does."""

from tests.functional.conftest import LMS_KEY, LMS_SECRET, PUBLIC_HOST
from tests.lti_consumer import TEACHER, launch_params, signed_launch


def launch(
    testapp,
    path="/lti/C1/",
    *changes,
    key=LMS_KEY,
    secret=LMS_SECRET,
    status=302,
    timestamp=None,
    nonce=None,
    url=None,
    **more,
):
    """POST the base launch B, with ``changes``, signed for the public URL."""
    params = launch_params(*changes, **more)
    fields = signed_launch(
        url or f"https://{PUBLIC_HOST}{path}",
        params,
        key,
        secret,
        timestamp=timestamp,
        nonce=nonce,
    )
    return testapp.post(path, fields, status=status)


def teacher_launch(testapp, path="/lti/C1/", *changes, **kwargs):
    return launch(testapp, path, TEACHER, *changes, **kwargs)
