from unittest import mock

import pytest
from pyramid import testing
from pyramid.authorization import Authenticated, Everyone

from wimslti.models import AdminUser, Lms, utcnow
from wimslti.resources.admin import AdminRoot, LmsContainer, LmsResource
from wimslti.security import ADMINS, AdminSecurityPolicy, Permissions, session_secret

VIEW, MANAGE, EDIT, RESTORE = Permissions


class TestAdminSecurityPolicy:
    def test_nobody_is_identified_without_a_session(self, policy, request_):
        assert policy.identity(request_) is None
        assert policy.principals(request_) == [Everyone]

    def test_a_remembered_admin_is_identified(self, policy, request_, user):
        policy.remember(request_, user.id)

        assert policy.identity(request_) is user
        assert policy.principals(request_) == [
            Everyone,
            Authenticated,
            ADMINS,
            f"admin:{user.id}",
        ]

    def test_a_new_password_ends_the_session(self, policy, request_, user):
        policy.remember(request_, user.id)

        user.password_hash = "$argon2id$another"

        assert policy.identity(request_) is None

    def test_a_forgotten_admin_is_not_identified(self, policy, request_, user):
        policy.remember(request_, user.id)

        policy.forget(request_)

        assert policy.identity(request_) is None

    def test_the_fingerprint_depends_on_the_secret(self, user):
        assert AdminSecurityPolicy("one").fingerprint(user) != (
            AdminSecurityPolicy("two").fingerprint(user)
        )
        assert user.password_hash not in AdminSecurityPolicy("one").fingerprint(user)

    @pytest.fixture
    def policy(self):
        policy = AdminSecurityPolicy("a-secret")
        with testing.testConfig() as config:
            config.set_security_policy(policy)
            yield policy

    @pytest.fixture
    def user(self, dbsession):
        user = AdminUser(login="alice", password_hash="$argon2id$something")
        dbsession.add(user)
        dbsession.flush()
        return user

    @pytest.fixture
    def request_(self, dbsession):
        request = testing.DummyRequest()
        request.dbsession = dbsession
        return request


class TestAcl:
    @pytest.mark.parametrize(
        ("source", "retired", "allowed"),
        [
            ("admin", False, {VIEW, MANAGE, EDIT}),
            ("yaml", False, {VIEW, MANAGE}),
            ("admin", True, {VIEW, MANAGE, RESTORE}),
            ("yaml", True, {VIEW, MANAGE, RESTORE}),
        ],
    )
    def test_a_record_allows_what_its_owner_allows(self, source, retired, allowed):
        record = Lms(
            key="k",
            name="n",
            source=source,
            source_file="lms.yaml" if source == "yaml" else None,
            retired_at=utcnow() if retired else None,
        )

        context = lms_resource(record)

        assert permitted(context, [Everyone, Authenticated, ADMINS]) == allowed

    def test_a_visitor_may_do_nothing(self):
        context = lms_resource(Lms(key="k", name="n", source="admin"))

        assert permitted(context, [Everyone]) == set()
        assert permitted(context.__parent__.__parent__, [Everyone]) == set()


def lms_resource(record):
    request = mock.Mock()
    root = AdminRoot(request, "admin", None)
    return LmsResource(request, "1", LmsContainer(request, "lms", root), record)


def permitted(context, principals):
    from pyramid.authorization import ACLHelper

    helper = ACLHelper()
    return {
        permission
        for permission in Permissions
        if helper.permits(context, principals, permission)
    }


class TestSessionSecret:
    def test_it_uses_the_configured_secret(self):
        assert session_secret({"wimslti.session_secret": "x" * 40}) == "x" * 40

    def test_without_one_each_process_makes_its_own(self, caplog):
        first = session_secret({"wimslti.session_secret": ""})

        assert len(first) >= 32
        assert first != session_secret({})
        assert "admin sessions use a random secret" in caplog.text
