"""The web admin: dashboard, LMS and WIMS server records, classes, reloads.

Every view here is registered for a resource of the ``admin`` branch and
names a permission, which the branch's ACLs grant to administrators only.
"""

from typing import Any

from pyramid.request import Request


def no_store(request: Request) -> None:
    """Keep admin pages out of browser and proxy caches."""

    def callback(request: Request, response: Any) -> None:
        response.headers["Cache-Control"] = "no-store"

    request.add_response_callback(callback)


class AdminViews:
    """Views of one admin resource."""

    def __init__(self, context: Any, request: Request) -> None:
        self.context = context
        self.request = request
        no_store(request)
