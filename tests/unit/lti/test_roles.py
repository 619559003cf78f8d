import pytest

from wimslti.lti.roles import parse_roles
from wimslti.settings import SETTINGS

TEACHER_ROLES = next(s.default for s in SETTINGS if s.name == "wimslti.teacher_roles")


class TestParseRoles:
    @pytest.mark.parametrize(
        "roles",
        [
            "Instructor",
            "instructor",
            " Instructor , Learner ",
            "urn:lti:role:ims/lis/Instructor",
            "urn:lti:role:ims/lis/Instructor,urn:lti:sysrole:ims/lis/Administrator",
            # IMS certification 3.2 and 3.3.
            "urn:non:ims/something/Else,Instructor,urn:lti:instrole:ims/lis/Alumni",
            "urn:non:ims/something/Else,urn:lti:role:ims/lis/Instructor,"
            "urn:lti:instrole:ims/lis/Alumni",
            "Administrator",
            "urn:lti:role:ims/lis/Administrator",
            "Staff",
            "urn:lti:role:ims/lis/ContentDeveloper",
            "Maintain",
        ],
    )
    def test_teachers(self, roles):
        assert parse_roles(roles).is_teacher(TEACHER_ROLES)

    @pytest.mark.parametrize(
        "roles",
        [
            "Learner",
            "Student",
            "urn:lti:role:ims/lis/Learner",
            "urn:non:ims/something/Else,urn:lti:role:ims/lis/Learner,"
            "urn:lti:instrole:ims/lis/Alumni",
            "urn:non:ims/something/Else",
            # Institution and system roles never make a teacher by themselves.
            "urn:lti:instrole:ims/lis/Instructor",
            "urn:lti:instrole:ims/lis/Administrator",
            "urn:lti:sysrole:ims/lis/Administrator",
            "urn:lti:instrole:ims/lis/Learner",
            "NotALearner",
            "",
            " , ",
            # Canvas observers: parents, not teachers.
            "urn:lti:role:ims/lis/Mentor",
            "Mentor",
            "Learner,Mentor",
            "urn:lti:role:ims/lis/Mentor/Mentor",
        ],
    )
    def test_non_teachers(self, roles):
        assert not parse_roles(roles).is_teacher(TEACHER_ROLES)

    @pytest.mark.parametrize(
        "roles",
        [
            "TeachingAssistant",
            "TA",
            "urn:lti:role:ims/lis/TeachingAssistant",
            "urn:lti:role:ims/lis/Instructor/TeachingAssistant",
            "Instructor/TeachingAssistant",
            "urn:lti:role:ims/lis/Instructor/Grader",
            "urn:lti:role:ims/lis/TeachingAssistant/TeachingAssistantSection",
        ],
    )
    def test_teaching_assistants_are_recognised(self, roles):
        parsed = parse_roles(roles)

        assert parsed.context == {"teachingassistant"}
        assert parsed.is_teacher(TEACHER_ROLES)
        assert not parsed.is_teacher(["instructor"])

    def test_it_keeps_unknown_roles_aside(self):
        parsed = parse_roles("NotALearner,Learner,urn:non:ims/x")

        assert parsed.context == {"learner"}
        assert parsed.unknown == ("NotALearner", "urn:non:ims/x")

    def test_it_separates_institution_and_system_roles(self):
        parsed = parse_roles(
            "urn:lti:instrole:ims/lis/Faculty,urn:lti:sysrole:ims/lis/SysAdmin"
        )

        assert parsed.institution == {"faculty"}
        assert parsed.system == {"sysadmin"}
        assert parsed.context == frozenset()
