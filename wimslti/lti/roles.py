"""LTI 1.1 roles in every shape LMSs send them.

LMSs send short names (``Instructor``), context role URNs
(``urn:lti:role:ims/lis/Instructor``), sub-roles
(``urn:lti:role:ims/lis/Instructor/TeachingAssistant``), institution and
system roles (``urn:lti:instrole:…``, ``urn:lti:sysrole:…``) and words of their
own (edX ``Student``, Sakai ``Maintain``), in comma lists with spaces.
"""

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CONTEXT_URN = "urn:lti:role:ims/lis/"
INSTITUTION_URN = "urn:lti:instrole:ims/lis/"
SYSTEM_URN = "urn:lti:sysrole:ims/lis/"

# LIS context roles, and the words LMSs use for them.
CONTEXT_ROLES = {
    "learner": "learner",
    "student": "learner",
    "instructor": "instructor",
    "teacher": "instructor",
    "maintain": "instructor",
    "administrator": "administrator",
    "staff": "staff",
    "contentdeveloper": "contentdeveloper",
    "teachingassistant": "teachingassistant",
    "ta": "teachingassistant",
    "mentor": "mentor",
    "member": "member",
    "manager": "manager",
}

# Instructor sub-roles that are teaching assistants rather than teachers, e.g.
# Instructor/TeachingAssistant or Instructor/Grader (LIS vocabulary).
TEACHING_ASSISTANT_SUB_ROLES = {
    "teachingassistant",
    "teachingassistantsection",
    "teachingassistantsectionassociation",
    "teachingassistantoffering",
    "teachingassistanttemplate",
    "teachingassistantgroup",
    "grader",
    "ta",
}


@dataclass(frozen=True)
class Roles:
    """The roles of one launch, lower-case and without their URN prefix."""

    context: frozenset[str] = frozenset()
    institution: frozenset[str] = frozenset()
    system: frozenset[str] = frozenset()
    unknown: tuple[str, ...] = field(default=())

    def is_teacher(self, teacher_roles: list[str]) -> bool:
        """Tell whether a context role is one of ``teacher_roles``.

        Institution and system roles never make a teacher by themselves:
        Canvas sends an account administrator's institution role even where
        that person is a student of the course.
        """
        return bool(self.context & set(teacher_roles))


def parse_roles(value: str) -> Roles:
    """Parse the ``roles`` launch parameter."""
    context: set[str] = set()
    institution: set[str] = set()
    system: set[str] = set()
    unknown: list[str] = []
    for raw in value.split(","):
        role = raw.strip()
        if not role:
            continue
        lowered = role.lower()
        if lowered.startswith(INSTITUTION_URN):
            institution.add(lowered.removeprefix(INSTITUTION_URN))
        elif lowered.startswith(SYSTEM_URN):
            system.add(lowered.removeprefix(SYSTEM_URN))
        else:
            name = _context_role(lowered.removeprefix(CONTEXT_URN))
            if name is None:
                unknown.append(role)
            else:
                context.add(name)
    return Roles(
        frozenset(context), frozenset(institution), frozenset(system), tuple(unknown)
    )


def _context_role(name: str) -> str | None:
    main, _, sub = name.partition("/")
    role = CONTEXT_ROLES.get(main)
    if role == "instructor" and sub in TEACHING_ASSISTANT_SUB_ROLES:
        return "teachingassistant"
    if role is None and sub in TEACHING_ASSISTANT_SUB_ROLES:
        return "teachingassistant"
    return role
