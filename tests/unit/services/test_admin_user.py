import logging

import argon2
import pytest

from wimslti.models import AdminUser
from wimslti.services.admin_user import AdminUserError, AdminUserService

PASSWORD = "correct horse battery staple"


class TestAdminUserService:
    def test_it_stores_an_argon2id_hash_never_the_password(self, service, dbsession):
        user = service.create("alice", PASSWORD)

        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert dbsession.get(AdminUser, user.id).login == "alice"

    def test_it_authenticates_the_right_password_only(self, service):
        user = service.create("alice", PASSWORD)

        assert service.authenticate("alice", PASSWORD) is user
        assert service.authenticate("alice", PASSWORD + "!") is None
        assert service.authenticate("alice", "") is None
        assert service.authenticate("bob", PASSWORD) is None

    def test_it_never_logs_a_password(self, service, caplog):
        caplog.set_level(logging.DEBUG, logger="wimslti")
        service.create("alice", PASSWORD)

        service.authenticate("alice", "typed wrong password")
        # A password typed into the login field is not logged either.
        service.authenticate(PASSWORD, PASSWORD)

        assert "typed wrong password" not in caplog.text
        assert PASSWORD not in caplog.text
        assert "Admin login refused for login='alice': wrong password" in caplog.text

    @pytest.mark.parametrize(
        ("login", "password", "message"),
        [
            ("alice", "short", "at least 12 characters"),
            ("alice", "x" * 1025, "at most 1024 characters"),
            ("", PASSWORD, "a login is 1 to 64"),
            ("has space", PASSWORD, "a login is 1 to 64"),
            ("x" * 65, PASSWORD, "a login is 1 to 64"),
        ],
    )
    def test_it_refuses_bad_logins_and_passwords(
        self, service, login, password, message
    ):
        with pytest.raises(AdminUserError, match=message):
            service.create(login, password)

    def test_a_login_is_created_once(self, service):
        service.create("alice", PASSWORD)

        with pytest.raises(AdminUserError, match="exists already: use set-password"):
            service.create("alice", "another password here")

    def test_set_password_replaces_the_hash(self, service):
        user = service.create("alice", PASSWORD)
        old_hash = user.password_hash

        service.set_password("alice", "another password here")

        assert user.password_hash != old_hash
        assert service.authenticate("alice", PASSWORD) is None
        assert service.authenticate("alice", "another password here") is user

    def test_set_password_needs_a_known_login(self, service):
        with pytest.raises(AdminUserError, match="there is no administrator bob"):
            service.set_password("bob", PASSWORD)

    def test_an_old_hash_is_upgraded_at_login(self, service, dbsession):
        weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        user = AdminUser(login="alice", password_hash=weak.hash(PASSWORD))
        dbsession.add(user)
        dbsession.flush()

        assert service.authenticate("alice", PASSWORD) is user

        assert user.password_hash != weak.hash(PASSWORD)
        assert not argon2.PasswordHasher().check_needs_rehash(user.password_hash)

    def test_a_hash_that_is_not_argon2_logs_in_nobody(self, service, dbsession):
        dbsession.add(AdminUser(login="alice", password_hash="plain-text"))
        dbsession.flush()

        assert service.authenticate("alice", "plain-text") is None

    @pytest.fixture
    def service(self, dbsession):
        return AdminUserService(dbsession)
