import logging
import threading
from textwrap import dedent

import pytest
import sqlalchemy as sa
from pyramid.config import Configurator

import wimslti.config.sync as sync_module
from wimslti.config import (
    DeclarationError,
    Declarations,
    LmsDeclaration,
    WimsDeclaration,
    reload_config,
    sync_at_start,
    sync_declarations,
)
from wimslti.models import (
    Lms,
    WimsClass,
    WimsServer,
    get_engine,
    get_session_factory,
    utcnow,
)

URL_A = "http://127.0.0.1:7777/wims/wims.cgi"
URL_B = "http://[::1]:7777/wims/wims.cgi"
URL_C = "http://127.0.0.1:7778/wims/wims.cgi"


def lms(key="moodle-a", **values):
    fields = {
        "secret": "s3cr3t",
        "name": f"LMS {key}",
        "guid": None,
        "url": None,
        "source_file": "lms.yaml",
        "line": 2,
        "entry": f"lms[1] (key {key})",
    }
    return LmsDeclaration(key=key, **{**fields, **values})


def wims(url=URL_A, id=None, **values):
    fields = {
        "name": "WIMS",
        "ident": "wimslti",
        "passwd": "wimsltipass",
        "rclass": "myclass",
        "class_limit": 150,
        "class_lifetime_days": 365,
        "allowed_lms": ("moodle-a",),
        "contact_email": None,
        "source_file": "wims.yaml",
        "line": 2,
        "entry": f"wims[1] (id {id})" if id else f"wims[1] (url {url})",
    }
    return WimsDeclaration(id=id, url=url, **{**fields, **values})


def declare(lms_list=(), wims_list=()):
    return Declarations(lms=tuple(lms_list), wims=tuple(wims_list))


def servers(session):
    return {row.id: row for row in session.scalars(sa.select(WimsServer))}


def admin_lms(session, key="moodle-a", **values):
    row = Lms(key=key, secret="admin-secret", name="Made in the admin", **values)
    session.add(row)
    session.flush()
    return row


def admin_wims(session, url=URL_A, **values):
    row = WimsServer(
        url=url,
        name="Made in the admin",
        ident="adminident",
        passwd="adminpass",
        rclass="adminclass",
        **values,
    )
    session.add(row)
    session.flush()
    return row


class TestSyncDeclarations:
    def test_it_adds_new_records(self, dbsession):
        report = sync_declarations(
            dbsession, declare([lms()], [wims(id=1), wims(URL_B, allowed_lms=())])
        )

        assert report.added == ["LMS moodle-a", f"WIMS 1 {URL_A}", f"WIMS 2 {URL_B}"]
        row = dbsession.scalars(sa.select(Lms)).one()
        assert (row.key, row.secret, row.source, row.source_file) == (
            "moodle-a",
            "s3cr3t",
            "yaml",
            "lms.yaml",
        )
        rows = servers(dbsession)
        assert [lms.key for lms in rows[1].allowed_lms] == ["moodle-a"]
        assert rows[2].allowed_lms == []
        assert (rows[1].source, rows[1].source_file) == ("yaml", "wims.yaml")

    def test_a_second_sync_changes_nothing(self, dbsession):
        declarations = declare([lms()], [wims(id=1)])
        sync_declarations(dbsession, declarations)
        dbsession.commit()
        stamps = self.stamps(dbsession)

        report = sync_declarations(dbsession, declarations)
        dbsession.commit()

        assert report.unchanged == ["LMS moodle-a", f"WIMS 1 {URL_A}"]
        assert not report.changed
        assert self.stamps(dbsession) == stamps

    def test_it_updates_only_what_changed(self, dbsession):
        sync_declarations(dbsession, declare([lms(), lms("moodle-b")], [wims(id=1)]))
        dbsession.commit()
        stamps = self.stamps(dbsession)

        report = sync_declarations(
            dbsession,
            declare(
                [lms(secret="new-secret", name="Renamed"), lms("moodle-b")],
                [wims(id=1, passwd="new-pass", class_limit=40)],
            ),
        )
        dbsession.commit()

        assert report.updated == ["LMS moodle-a", f"WIMS 1 {URL_A}"]
        assert report.unchanged == ["LMS moodle-b"]
        assert report.changes == {
            "LMS moodle-a": ["secret", "name"],
            f"WIMS 1 {URL_A}": ["passwd", "class_limit"],
        }
        assert "new-secret" not in str(report)
        assert "new-pass" not in "\n".join(report.lines())
        after = self.stamps(dbsession)
        assert after["lms moodle-b"] == stamps["lms moodle-b"]
        assert after["lms moodle-a"] > stamps["lms moodle-a"]
        assert servers(dbsession)[1].class_limit == 40

    def test_a_change_of_allowed_lms_is_an_update(self, dbsession):
        sync_declarations(dbsession, declare([lms(), lms("moodle-b")], [wims(id=1)]))
        dbsession.commit()
        before = self.stamps(dbsession)[1]

        report = sync_declarations(
            dbsession,
            declare(
                [lms(), lms("moodle-b")],
                [wims(id=1, allowed_lms=("moodle-b", "moodle-a"))],
            ),
        )
        dbsession.commit()

        assert report.changes == {f"WIMS 1 {URL_A}": ["allowed_lms"]}
        row = servers(dbsession)[1]
        assert [lms.key for lms in row.allowed_lms] == ["moodle-a", "moodle-b"]
        assert row.updated_at > before

    def test_it_takes_over_admin_records(self, dbsession):
        admin_lms(dbsession)
        server = admin_wims(dbsession)

        report = sync_declarations(dbsession, declare([lms()], [wims()]))

        assert report.taken_over == ["LMS moodle-a", f"WIMS {server.id} {URL_A}"]
        assert report.updated == report.taken_over
        assert report.lines()[0] == (
            "updated LMS moodle-a (taken over from the admin; "
            "changed: secret, name, file)"
        )
        row = dbsession.scalars(sa.select(Lms)).one()
        assert (row.source, row.source_file, row.secret) == (
            "yaml",
            "lms.yaml",
            "s3cr3t",
        )
        assert (server.source, server.ident, server.id) == ("yaml", "wimslti", 1)

    def test_it_retires_what_the_files_no_longer_declare(self, dbsession):
        sync_declarations(
            dbsession,
            declare([lms(), lms("moodle-b")], [wims(id=1), wims(URL_B, id=2)]),
        )
        wims_class = self.add_class(dbsession, 2)
        dbsession.commit()

        report = sync_declarations(dbsession, declare([lms()], [wims(id=1)]))
        dbsession.commit()

        assert report.retired == ["LMS moodle-b", f"WIMS 2 {URL_B}"]
        retired = dbsession.scalars(sa.select(Lms).where(Lms.key == "moodle-b")).one()
        assert retired.retired_at is not None
        assert servers(dbsession)[2].retired_at is not None
        assert dbsession.get(WimsClass, wims_class.id).wims_server_id == 2

    def test_it_never_retires_admin_records(self, dbsession):
        admin_lms(dbsession, "moodle-admin")
        admin_wims(dbsession, URL_C)

        report = sync_declarations(dbsession, declare([lms()], [wims()]))

        assert report.retired == []
        assert all(row.retired_at is None for row in servers(dbsession).values())

    def test_a_retired_record_declared_again_is_restored(self, dbsession):
        sync_declarations(dbsession, declare([lms()], [wims(id=1)]))
        sync_declarations(dbsession, declare())
        dbsession.commit()

        report = sync_declarations(dbsession, declare([lms()], [wims(id=1)]))

        assert report.restored == ["LMS moodle-a", f"WIMS 1 {URL_A}"]
        assert report.lines()[0] == "updated LMS moodle-a (restored)"
        assert dbsession.scalars(sa.select(Lms)).one().retired_at is None
        assert servers(dbsession)[1].retired_at is None

    def test_servers_without_id_keep_their_number(self, dbsession):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A), wims(URL_B)]))
        dbsession.commit()

        report = sync_declarations(
            dbsession, declare([lms()], [wims(URL_B, name="B"), wims(URL_A)])
        )

        assert report.updated == [f"WIMS 2 {URL_B}"]
        assert {id: row.url for id, row in servers(dbsession).items()} == {
            1: URL_A,
            2: URL_B,
        }

    def test_a_new_server_never_reuses_a_number(self, dbsession):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A), wims(URL_B)]))
        sync_declarations(dbsession, declare([lms()], [wims(URL_A)]))
        dbsession.commit()

        report = sync_declarations(
            dbsession, declare([lms()], [wims(URL_A), wims(URL_C)])
        )

        assert report.added == [f"WIMS 3 {URL_C}"]
        rows = servers(dbsession)
        assert rows[2].url == URL_B
        assert rows[2].retired_at is not None

    def test_a_new_server_gets_a_number_above_the_declared_ones(self, dbsession):
        report = sync_declarations(
            dbsession, declare([lms()], [wims(URL_A), wims(URL_B, id=5)])
        )

        assert report.added == ["LMS moodle-a", f"WIMS 6 {URL_A}", f"WIMS 5 {URL_B}"]

    def test_the_admin_numbers_servers_after_the_declared_ones(self, dbsession):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A, id=5)]))
        dbsession.commit()

        assert admin_wims(dbsession, URL_B).id == 6

    def test_an_explicit_id_keeps_its_server_when_the_url_changes(self, dbsession):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A, id=1)]))
        self.add_class(dbsession, 1)
        dbsession.commit()

        report = sync_declarations(dbsession, declare([lms()], [wims(URL_C, id=1)]))

        assert report.changes == {f"WIMS 1 {URL_C}": ["url"]}
        assert servers(dbsession)[1].url == URL_C

    def test_two_servers_may_swap_their_urls(self, dbsession):
        sync_declarations(
            dbsession, declare([lms()], [wims(URL_A, id=1), wims(URL_B, id=2)])
        )
        dbsession.commit()

        sync_declarations(
            dbsession, declare([lms()], [wims(URL_B, id=1), wims(URL_A, id=2)])
        )
        dbsession.commit()

        assert {id: row.url for id, row in servers(dbsession).items()} == {
            1: URL_B,
            2: URL_A,
        }

    def test_it_raises_if_an_explicit_id_takes_the_url_of_another_server(
        self, dbsession
    ):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A)]))
        dbsession.commit()

        with pytest.raises(DeclarationError) as caught:
            sync_declarations(dbsession, declare([lms()], [wims(URL_A, id=4)]))

        assert [str(problem) for problem in caught.value.errors] == [
            "wims.yaml:2: wims[1] (id 4): url: is already the address of WIMS "
            "server 1: declare id 1 to update it, or use another url"
        ]

    def test_it_raises_if_a_url_belongs_to_a_server_declared_with_another(
        self, dbsession
    ):
        sync_declarations(dbsession, declare([lms()], [wims(URL_A, id=1)]))
        dbsession.commit()
        moved = wims(URL_C, id=1, line=9, entry="wims[2] (id 1)")

        with pytest.raises(DeclarationError) as caught:
            sync_declarations(dbsession, declare([lms()], [wims(URL_A), moved]))

        [problem] = caught.value.errors
        assert (problem.entry, problem.field) == (f"wims[1] (url {URL_A})", "url")
        assert "wims.yaml:9 (wims[2] (id 1))" in problem.message

    def test_allowed_lms_may_name_an_admin_lms(self, dbsession):
        admin_lms(dbsession, "moodle-admin")

        sync_declarations(dbsession, declare([], [wims(allowed_lms=("moodle-admin",))]))

        [row] = servers(dbsession).values()
        assert [lms.key for lms in row.allowed_lms] == ["moodle-admin"]

    @pytest.mark.parametrize("state", ["absent", "retired admin", "yaml"])
    def test_it_raises_if_allowed_lms_names_an_unusable_lms(self, dbsession, state):
        if state == "retired admin":
            admin_lms(dbsession, "moodle-x", retired_at=utcnow())
        elif state == "yaml":
            admin_lms(dbsession, "moodle-x", source="yaml")

        with pytest.raises(DeclarationError) as caught:
            sync_declarations(
                dbsession, declare([lms()], [wims(allowed_lms=("moodle-x",))])
            )

        [problem] = caught.value.errors
        assert problem.field == "allowed_lms[1]"
        assert "'moodle-x'" in problem.message

    @staticmethod
    def stamps(session):
        session.expire_all()
        stamps = {
            f"lms {row.key}": row.updated_at for row in session.scalars(sa.select(Lms))
        }
        stamps.update(
            {row.id: row.updated_at for row in session.scalars(sa.select(WimsServer))}
        )
        return stamps

    @staticmethod
    def add_class(session, server_id):
        wims_class = WimsClass(
            lms_id=session.scalars(sa.select(Lms.id)).first(),
            context_id="course-1",
            wims_server_id=server_id,
            qclass="1234567",
            name="Course 1",
            class_password="p",
            supervisor_password="p",
        )
        session.add(wims_class)
        session.flush()
        return wims_class


class TestReloadConfig:
    def test_it_commits_in_its_own_transaction(self, session_factory, config_dir):
        report = reload_config(session_factory, config_dir, {})

        assert report.summary() == "1 added, 0 updated, 0 unchanged, 0 retired"
        with session_factory() as session:
            assert session.scalars(sa.select(Lms.key)).all() == ["moodle-a"]

    def test_in_a_given_session_it_leaves_the_commit_to_the_caller(
        self, session_factory, config_dir
    ):
        with session_factory() as session:
            reload_config(session, config_dir, {})
            session.rollback()

        with session_factory() as session:
            assert session.scalars(sa.select(Lms)).all() == []

    def test_an_invalid_file_changes_nothing(self, session_factory, config_dir):
        reload_config(session_factory, config_dir, {})
        with session_factory() as session:
            before = [
                (row.key, row.secret, row.updated_at)
                for row in session.scalars(sa.select(Lms))
            ]
        (config_dir / "lms.yaml").write_text(
            "lms:\n  - key: moodle-a\n    secret: changed\n    name: A\n"
            "  - key: moodle-b\n    name: no secret\n"
        )

        with pytest.raises(DeclarationError):
            reload_config(session_factory, config_dir, {})

        with session_factory() as session:
            after = [
                (row.key, row.secret, row.updated_at)
                for row in session.scalars(sa.select(Lms))
            ]
        assert after == before

    def test_a_refusal_by_the_database_changes_nothing(
        self, session_factory, config_dir
    ):
        with session_factory() as session:
            admin_wims(session, URL_A)
            session.commit()
        (config_dir / "wims.yaml").write_text(
            dedent(
                f"""\
                wims:
                  - id: 9
                    name: W
                    url: {URL_A}
                    ident: wimslti
                    passwd: wimsltipass
                    rclass: myclass
                """
            )
        )

        with pytest.raises(DeclarationError):
            reload_config(session_factory, config_dir, {})

        with session_factory() as session:
            assert session.scalars(sa.select(Lms)).all() == []

    def test_an_admin_lms_key_may_be_allowed(self, session_factory, config_dir):
        with session_factory() as session:
            admin_lms(session, "moodle-admin")
            session.commit()
        (config_dir / "wims.yaml").write_text(
            dedent(
                f"""\
                wims:
                  - name: W
                    url: {URL_A}
                    ident: wimslti
                    passwd: wimsltipass
                    rclass: myclass
                    allowed_lms: [moodle-admin]
                """
            )
        )

        report = reload_config(session_factory, config_dir, {})

        assert report.added == ["LMS moodle-a", f"WIMS 1 {URL_A}"]

    def test_it_tries_once_more_after_a_concurrent_insert(
        self, session_factory, config_dir, monkeypatch
    ):
        # The lock makes a real race rare; stand in for the one that lost it.
        attempts = []
        reload = sync_module._reload

        def lose_the_first_race(session, *args):
            attempts.append(session)
            if len(attempts) == 1:
                raise sa.exc.IntegrityError("INSERT INTO lms", {}, Exception("race"))
            return reload(session, *args)

        monkeypatch.setattr(sync_module, "_reload", lose_the_first_race)

        report = reload_config(session_factory, config_dir, {})

        assert len(attempts) == 2
        assert report.added == ["LMS moodle-a"]

    def test_concurrent_reloads_all_succeed(self, db_url, config_dir):
        engines = [get_engine(db_url) for _ in range(4)]
        barrier = threading.Barrier(len(engines))
        results = []

        def run(engine):
            factory = get_session_factory(engine)
            barrier.wait()
            try:
                results.append(reload_config(factory, config_dir, {}).summary())
            except Exception as error:
                results.append(repr(error))

        threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for engine in engines:
            engine.dispose()

        assert sorted(results) == [
            "0 added, 0 updated, 1 unchanged, 0 retired",
            "0 added, 0 updated, 1 unchanged, 0 retired",
            "0 added, 0 updated, 1 unchanged, 0 retired",
            "1 added, 0 updated, 0 unchanged, 0 retired",
        ]

    @pytest.fixture
    def config_dir(self, tmp_path):
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "lms.yaml").write_text(
            "lms:\n  - key: moodle-a\n    secret: s3cr3t\n    name: A\n"
        )
        return folder


class TestSyncAtStart:
    def test_it_syncs_and_logs_the_counts(self, settings, session_factory, caplog):
        caplog.set_level(logging.INFO, logger="wimslti")

        report = sync_at_start(settings, session_factory)

        assert report.added == ["LMS moodle-a"]
        assert caplog.messages == [
            f"Synced the YAML declarations in {settings['wimslti.config_dir']}: "
            "1 added, 0 updated, 0 unchanged, 0 retired"
        ]

    def test_it_does_nothing_when_disabled(self, settings, session_factory):
        settings["wimslti.sync_config_at_start"] = "false"

        assert sync_at_start(settings, session_factory) is None
        with session_factory() as session:
            assert session.scalars(sa.select(Lms)).all() == []

    def test_it_builds_an_engine_without_a_session_factory(self, settings):
        assert sync_at_start(settings).added == ["LMS moodle-a"]

    def test_it_logs_invalid_files_without_secrets_and_keeps_the_database(
        self, settings, session_factory, caplog
    ):
        sync_at_start(settings, session_factory)
        config_dir = settings["wimslti.config_dir"]
        (config_dir / "lms.yaml").write_text(
            "lms:\n  - key: moodle-a\n    secret: 424242\n    name: A\n"
        )

        assert sync_at_start(settings, session_factory) is None

        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors == [
            f"The YAML declarations in {config_dir} are invalid (1 problems); the "
            "database was left as it was:",
            "  lms.yaml:3: lms[1] (key moodle-a): secret: "
            "must be text (put the value in quotes)",
        ]
        with session_factory() as session:
            assert session.scalars(sa.select(Lms.secret)).all() == ["s3cr3t"]

    def test_it_tells_to_run_initdb_on_an_unmigrated_database(
        self, settings, tmp_path, caplog
    ):
        settings["sqlalchemy.url"] = f"sqlite:///{tmp_path / 'empty.sqlite'}"

        assert sync_at_start(settings) is None

        [record] = caplog.records
        assert record.levelno == logging.ERROR
        assert "wimslti -c <your .ini> initdb" in record.getMessage()

    def test_it_logs_an_unreachable_database(self, settings, tmp_path, caplog):
        settings["sqlalchemy.url"] = f"sqlite:///{tmp_path / 'no' / 'such.sqlite'}"

        assert sync_at_start(settings) is None

        [record] = caplog.records
        assert record.getMessage() == (
            "The YAML declarations were not synced, the database failed: "
            "unable to open database file"
        )

    @pytest.fixture
    def settings(self, db_url, tmp_path):
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "lms.yaml").write_text(
            "lms:\n  - key: moodle-a\n    secret: s3cr3t\n    name: A\n"
        )
        return {
            "sqlalchemy.url": db_url,
            "wimslti.config_dir": folder,
            "wimslti.sync_config_at_start": True,
        }


class TestIncludeme:
    @pytest.mark.parametrize("order", ["models first", "config first"])
    def test_it_syncs_when_the_configuration_is_committed(
        self, db_url, db_engine, tmp_path, order
    ):
        folder = tmp_path / "config"
        folder.mkdir()
        (folder / "lms.yaml").write_text(
            "lms:\n  - key: moodle-a\n    secret: s3cr3t\n    name: A\n"
        )
        settings = {"sqlalchemy.url": db_url, "wimslti.config_dir": str(folder)}
        config = Configurator(settings=settings)
        config.registry["dbengine"] = db_engine
        includes = ["wimslti.models", "wimslti.config"]
        if order == "config first":
            includes.reverse()

        for name in includes:
            config.include(name)
        with get_session_factory(db_engine)() as session:
            assert session.scalars(sa.select(Lms)).all() == []
        config.commit()

        with get_session_factory(db_engine)() as session:
            assert session.scalars(sa.select(Lms.key)).all() == ["moodle-a"]
