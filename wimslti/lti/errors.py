"""Why a launch is refused, in words for the person who launched it."""

from pyramid.i18n import Localizer

from wimslti.i18n import _, translate


class LaunchError(Exception):
    """A launch that cannot go on; ``status`` is the HTTP status of the page.

    ``message`` is shown to the person, in their language (see ``shown``),
    and sent back to the LMS as ``lti_errormsg``; it may be a translation
    string, and the attribute holds its English text. ``detail`` is for the
    LMS administrator (``lti_errorlog``) and the log, in English, and never
    holds a secret.
    """

    status = 400
    # Only an authenticated launch may be sent back to its return URL: before
    # the signature is checked the URL is not to be trusted.
    authenticated = True

    def __init__(self, message: str, detail: str = ""):
        self.translatable = message
        self.message = translate(message)
        super().__init__(self.message)
        self.detail = detail

    def shown(self, localizer: Localizer) -> str:
        """Return the message in the language of ``localizer``."""
        return translate(self.translatable, localizer)


class InvalidLaunchParameters(LaunchError):
    """Parameters are missing or have values the gateway cannot use."""

    status = 400

    def __init__(self, problems: list[str]):
        # Each problem may be a translation string; ``problems`` is English.
        self.translatable_problems = problems
        self.problems = [translate(problem) for problem in problems]
        super().__init__(
            self._sentence(self.problems),
            detail="invalid parameters: " + "; ".join(self.problems),
        )

    def shown(self, localizer: Localizer) -> str:
        problems = [translate(p, localizer) for p in self.translatable_problems]
        return translate(self._sentence(problems), localizer)

    @staticmethod
    def _sentence(problems: list[str]) -> str:
        return _(
            "The launch cannot go on: ${problems}.",
            mapping={"problems": "; ".join(problems)},
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
