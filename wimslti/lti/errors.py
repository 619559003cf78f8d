"""Why a launch is refused, in words for the person who launched it."""


class LaunchError(Exception):
    """A launch that cannot go on; ``status`` is the HTTP status of the page.

    ``message`` is shown to the person and sent back to the LMS as
    ``lti_errormsg``; ``detail`` is for the LMS administrator
    (``lti_errorlog``) and the log, and never holds a secret.
    """

    status = 400
    # Only an authenticated launch may be sent back to its return URL: before
    # the signature is checked the URL is not to be trusted.
    authenticated = True

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidLaunchParameters(LaunchError):
    """Parameters are missing or have values the gateway cannot use."""

    status = 400

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "The launch cannot go on: " + "; ".join(problems) + ".",
            detail="invalid parameters: " + "; ".join(problems),
        )


class LaunchNotAuthenticated(LaunchError):
    """The OAuth signature, key, timestamp or nonce does not hold."""

    status = 403
    authenticated = False

    def __init__(self, reason: str, message: str, detail: str = ""):
        self.reason = reason
        super().__init__(message, detail)


class LaunchForbidden(LaunchError):
    """The launch is authentic but this person may not go where it points."""

    status = 403


class LaunchNotFound(LaunchError):
    """The WIMS server, class, worksheet or exam of the launch does not exist."""

    status = 404


class LaunchNotAuthenticatedNotFound(LaunchNotFound):
    """An unknown launch URL, found before the signature could be checked."""

    authenticated = False


class LaunchRetryLater(LaunchError):
    """Another launch is creating the same class or user: try again shortly."""

    status = 503
