import pytest
from pyramid import testing

from wimslti.services.class_links import (
    TEACHER_COOKIE,
    TEACHER_PASS_SECONDS,
    TeacherPass,
    teacher_principal,
    teacher_principals,
)

NOW = 1_800_000_000.0


class TestTeacherPass:
    def test_it_names_the_class_it_was_given_for(self):
        signer = TeacherPass("secret", clock=lambda: NOW)

        assert signer.class_id(signer.issue(7, "t-7")) == 7

    def test_it_expires(self):
        given = TeacherPass("secret", clock=lambda: NOW).issue(7, "t-7")
        later = TeacherPass("secret", clock=lambda: NOW + TEACHER_PASS_SECONDS + 1)

        assert later.class_id(given) is None

    def test_another_secret_does_not_read_it(self):
        given = TeacherPass("secret", clock=lambda: NOW).issue(7, "t-7")

        assert TeacherPass("other", clock=lambda: NOW).class_id(given) is None

    def test_garbage_is_no_pass(self):
        signer = TeacherPass("secret", clock=lambda: NOW)

        for value in ("", "abc", "é", "x" * 200, signer.issue(7, "t")[:-3]):
            assert signer.class_id(value) is None


class TestTeacherPrincipals:
    def test_a_valid_pass_gives_the_principal_of_its_class(self, registry):
        signer = registry["teacher_pass"] = TeacherPass("secret")
        request = testing.DummyRequest(cookies={TEACHER_COOKIE: signer.issue(3, "t")})

        assert teacher_principals(request) == [teacher_principal(3)]

    def test_no_pass_gives_nothing(self, registry):
        registry["teacher_pass"] = TeacherPass("secret")

        assert teacher_principals(testing.DummyRequest()) == []

    def test_an_app_without_the_signer_gives_nothing(self, registry):
        request = testing.DummyRequest(cookies={TEACHER_COOKIE: "anything"})

        assert teacher_principals(request) == []

    @pytest.fixture
    def registry(self):
        with testing.testConfig() as config:
            yield config.registry
