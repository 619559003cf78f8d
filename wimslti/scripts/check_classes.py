"""``wimslti -c INI check-classes``: mark gone the classes WIMS no longer has."""

import argparse
from typing import TYPE_CHECKING

from wimslti.services.class_check import ClassChecker
from wimslti.services.wims_connector import WimsConnector

if TYPE_CHECKING:
    from wimslti.scripts.cli import Context


def check_classes(context: "Context", args: argparse.Namespace) -> int:
    """Check that each ready class exists on its WIMS server; never delete rows."""
    context.require_current_database()
    checker = ClassChecker(
        context.session_factory, WimsConnector(context.settings["wimslti.wims_timeout"])
    )
    reports = checker.check_all()
    for report in reports:
        context.out(report.line())
    unchecked = sum(len(report.errors) for report in reports)
    if unchecked:
        context.err(
            f"wimslti check-classes: {unchecked} classes could not be checked "
            "(see the log); none of them was marked gone"
        )
        return 1
    return 0
