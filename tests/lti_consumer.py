"""Sign launches as an LMS does: OAuth 1.0a HMAC-SHA1 over the form body.

Run as a program, it posts one launch, like an LMS, and prints the answer:

    .venv/bin/python -m tests.lti_consumer http://127.0.0.1:6543/lti/C1/ \
        --key moodle-example --secret example-secret-change-me --teacher
"""

import argparse
import time
import uuid
from urllib.parse import parse_qsl, urlencode

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

FORM = "application/x-www-form-urlencoded"

# The base launch "B" of ../shared/cases/CASES.md.
BASE_LAUNCH = {
    "lti_message_type": "basic-lti-launch-request",
    "lti_version": "LTI-1p0",
    "resource_link_id": "rl-100",
    "context_id": "ctx-42",
    "context_title": "Algèbre linéaire L1",
    "context_label": "ALG1",
    "user_id": "u-1001",
    "roles": "Learner",
    "lis_person_name_given": "Camille",
    "lis_person_name_family": "Durand",
    "lis_person_name_full": "Camille Durand",
    "lis_person_contact_email_primary": "camille.durand@example.edu",
    "tool_consumer_instance_guid": "moodle.example.edu",
    "tool_consumer_instance_description": "Université Exemple",
    "tool_consumer_info_product_family_code": "moodle",
    "launch_presentation_locale": "fr-FR",
    "lis_outcome_service_url": "https://moodle.example.edu/mod/lti/service.php",
    "lis_result_sourcedid": '{"data":{"instanceid":"7","userid":"1001","typeid":"2",'
    '"launchid":91},"hash":"ab12"}',
}

# The teacher launch "T".
TEACHER = {
    "roles": "Instructor",
    "user_id": "t-7",
    "lis_person_name_given": "Noah",
    "lis_person_name_family": "Martin",
    "lis_person_name_full": "Noah Martin",
    "lis_person_contact_email_primary": "noah.martin@example.edu",
}

RETURN_URL = "https://moodle.example.edu/mod/lti/return.php?course=42"


def signed_launch(
    url: str,
    params: dict[str, str],
    key: str,
    secret: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> list[tuple[str, str]]:
    """Return the form fields of ``params`` signed for a POST to ``url``."""
    client = Client(
        key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
        timestamp=str(timestamp if timestamp is not None else int(time.time())),
        nonce=nonce or uuid.uuid4().hex,
    )
    _, _, body = client.sign(
        url,
        http_method="POST",
        body=urlencode(list(params.items())),
        headers={"Content-Type": FORM},
    )
    return parse_qsl(body, keep_blank_values=True)


def launch_params(*changes: dict[str, str | None], **more: str | None) -> dict:
    """Return B with ``changes`` applied; a value of None removes the key."""
    params = dict(BASE_LAUNCH)
    for change in (*changes, more):
        for name, value in change.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description="Post one signed LTI 1.1 launch.")
    parser.add_argument("url")
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--teacher", action="store_true", help="launch as teacher T")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a launch parameter (empty value: remove it)",
    )
    args = parser.parse_args()
    changes = dict(item.partition("=")[::2] for item in args.param)
    params = launch_params(
        TEACHER if args.teacher else {}, {k: v or None for k, v in changes.items()}
    )
    fields = signed_launch(args.url, params, args.key, args.secret)
    response = requests.post(args.url, data=fields, allow_redirects=False, timeout=30)
    print(response.status_code, response.headers.get("Location", ""))
    if response.status_code != 302:
        print(response.text)


if __name__ == "__main__":
    main()
