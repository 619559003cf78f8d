"""``wimslti import-wimslti``: a database of the Django WIMS-LTI, made here.

The file has the tables and columns Django makes for WIMS-LTI's ``lti_app``
models (see the docstring of wimslti/scripts/import_wimslti.py).
"""

import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
import webtest

from tests.doubles.wims import WimsDouble
from tests.gateway_ini import write_gateway_ini
from tests.lti_consumer import launch_params, signed_launch
from wimslti import main
from wimslti.models import (
    Activity,
    ClassState,
    GradeLink,
    Lms,
    WimsClass,
    WimsServer,
    WimsUser,
    get_engine,
    get_session_factory,
)
from wimslti.scripts.cli import main as cli

PROJECT = Path(__file__).resolve().parents[3]
WIMS_URL = "http://127.0.0.1:7777/wims/wims.cgi"
OTHER_WIMS_URL = "http://127.0.0.1:7778/wims/wims.cgi"
SECRET = "s3cr3t-Ω%&"
SOURCEDID = '{"data":{"instanceid":"7","userid":"1001"},"hash":"ab12"}'
DAY = 86_400 * 1_000_000

# The DDL Django's migrations give these models on SQLite.
OLD_SCHEMA = """
CREATE TABLE "django_migrations" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL,
    "applied" datetime NOT NULL);
CREATE TABLE "lti_app_lms" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "guid" varchar(2048) NOT NULL, "name" varchar(2048) NOT NULL,
    "url" varchar(2048) NOT NULL, "key" varchar(128) NOT NULL UNIQUE,
    "secret" varchar(128) NOT NULL);
CREATE TABLE "lti_app_wims" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" varchar(2048) NOT NULL, "url" varchar(2048) NOT NULL UNIQUE,
    "class_limit" smallint unsigned NOT NULL CHECK ("class_limit" >= 0),
    "expiration" bigint NOT NULL, "ident" varchar(2048) NOT NULL,
    "passwd" varchar(2048) NOT NULL, "rclass" varchar(2048) NOT NULL);
CREATE TABLE "lti_app_wims_allowed_lms" (
    "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "wims_id" integer NOT NULL REFERENCES "lti_app_wims" ("id"),
    "lms_id" integer NOT NULL REFERENCES "lti_app_lms" ("id"));
CREATE TABLE "lti_app_wimsclass" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "lms_guid" varchar(256) NOT NULL, "qclass" varchar(256) NOT NULL,
    "name" varchar(2048) NOT NULL,
    "lms_id" integer NOT NULL REFERENCES "lti_app_lms" ("id"),
    "wims_id" integer NOT NULL REFERENCES "lti_app_wims" ("id"));
CREATE TABLE "lti_app_wimsuser" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "lms_guid" varchar(256) NULL, "quser" varchar(256) NOT NULL,
    "wclass_id" integer NOT NULL REFERENCES "lti_app_wimsclass" ("id"));
CREATE TABLE "lti_app_wimssheet" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "lms_guid" varchar(256) NOT NULL, "qsheet" varchar(256) NULL,
    "wclass_id" integer NOT NULL REFERENCES "lti_app_wimsclass" ("id"));
CREATE TABLE "lti_app_wimsexam" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "lms_guid" varchar(256) NOT NULL, "qexam" varchar(256) NULL,
    "wclass_id" integer NOT NULL REFERENCES "lti_app_wimsclass" ("id"));
CREATE TABLE "lti_app_gradelinksheet" (
    "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "sourcedid" varchar(256) NOT NULL, "url" varchar(1023) NOT NULL,
    "activity_id" integer NOT NULL REFERENCES "lti_app_wimssheet" ("id"),
    "lms_id" integer NOT NULL REFERENCES "lti_app_lms" ("id"),
    "user_id" integer NOT NULL REFERENCES "lti_app_wimsuser" ("id"));
CREATE TABLE "lti_app_gradelinkexam" (
    "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "sourcedid" varchar(256) NOT NULL, "url" varchar(1023) NOT NULL,
    "activity_id" integer NOT NULL REFERENCES "lti_app_wimsexam" ("id"),
    "lms_id" integer NOT NULL REFERENCES "lti_app_lms" ("id"),
    "user_id" integer NOT NULL REFERENCES "lti_app_wimsuser" ("id"));
"""

OUTCOME_URL = "https://moodle.example.edu/mod/lti/service.php"
OLD_ROWS = {
    "lti_app_lms": [
        (
            1,
            "moodle.example.edu",
            "Moodle UPEM",
            "https://moodle.example.edu/",
            "moodle-key-01",
            SECRET,
        ),
        (
            2,
            "abc:canvas-lms",
            "Canvas",
            "https://canvas.example.edu/",
            "canvas-1",
            "canvas-secret",
        ),
        # A row of the times before LMSs had a key.
        (3, "old.example.edu", "Old", "https://old.example.edu/", "", "xxx"),
    ],
    "lti_app_wims": [
        (3, "WIMS UPEM", WIMS_URL, 200, 180 * DAY, "myself", "wims-passwd", "myclass"),
        (5, "WIMS 2", OTHER_WIMS_URL, 150, 365 * DAY, "myself", "passwd-2", "rc"),
    ],
    "lti_app_wims_allowed_lms": [(1, 3, 1), (2, 3, 2), (3, 5, 2)],
    "lti_app_wimsclass": [
        (10, "ctx-42", "9001", "Algèbre", 1, 3),
        (11, "course-7", "9002", "Physics", 2, 5),
    ],
    "lti_app_wimsuser": [
        (20, None, "supervisor", 10),
        (21, "u-1001", "jdoe", 10),
        (22, "u-1002", "asmith", 10),
        (23, "u-7", "bob", 11),
    ],
    "lti_app_wimssheet": [(30, "rl-100", "1", 10), (31, "rl-101", None, 10)],
    "lti_app_wimsexam": [(40, "rl-200", "2", 10)],
    "lti_app_gradelinksheet": [
        (50, SOURCEDID, OUTCOME_URL, 30, 1, 21),
        # The supervisor's: its user is not imported.
        (51, "sup", OUTCOME_URL, 30, 1, 20),
    ],
    "lti_app_gradelinkexam": [(60, "exam-sourcedid", OUTCOME_URL, 40, 1, 22)],
}

SUMMARY = [
    "LMS: 2 imported, 0 already there, 1 skipped",
    "  skipped 1: no consumer key",
    "WIMS servers: 2 imported, 0 already there, 0 skipped",
    "classes: 2 imported, 0 already there, 0 skipped",
    "users: 3 imported, 0 already there, 1 skipped",
    "  skipped 1: supervisor rows, made again at launch",
    "worksheets: 1 imported, 0 already there, 1 skipped",
    "  skipped 1: no WIMS number",
    "exams: 1 imported, 0 already there, 0 skipped",
    "grade links: 2 imported, 0 already there, 1 skipped",
    "  skipped 1: their user or activity is not imported",
]


def make_old_database(path, rows=OLD_ROWS):
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_SCHEMA)
        for table, values in rows.items():
            marks = ", ".join("?" * len(values[0]))
            # The table names are the test's own.
            insert = f"INSERT INTO {table} VALUES ({marks})"  # noqa: S608
            connection.executemany(insert, values)
    connection.close()
    return str(path)


def all_rows(db_url, model):
    engine = get_engine(db_url)
    try:
        with get_session_factory(engine)() as session:
            return session.scalars(sa.select(model).order_by(model.id)).all()
    finally:
        engine.dispose()


def allowed_lms(db_url):
    """Return the keys of the LMSs each WIMS server allows, by server id."""
    engine = get_engine(db_url)
    try:
        with get_session_factory(engine)() as session:
            return {
                server.id: [lms.key for lms in server.allowed_lms]
                for server in session.scalars(sa.select(WimsServer))
            }
    finally:
        engine.dispose()


def add(db_url, *rows):
    engine = get_engine(db_url)
    try:
        with get_session_factory(engine)() as session:
            session.add_all(rows)
            session.commit()
    finally:
        engine.dispose()


class TestImport:
    def test_it_imports_everything_and_says_what(self, ini, old_db, capsys):
        assert cli(["-c", ini, "import-wimslti", old_db]) == 0

        out = capsys.readouterr().out.splitlines()
        assert out[:-1] == SUMMARY
        assert out[-1] == f"Imported {old_db}: 13 imported, 0 already there, 4 skipped"

    def test_servers_keep_their_numbers(self, ini, old_db, db_url):
        cli(["-c", ini, "import-wimslti", old_db])

        servers = all_rows(db_url, WimsServer)
        assert [(s.id, s.url, s.ident, s.rclass) for s in servers] == [
            (3, WIMS_URL, "myself", "myclass"),
            (5, OTHER_WIMS_URL, "myself", "rc"),
        ]
        assert servers[0].passwd == "wims-passwd"
        assert servers[0].class_limit == 200
        assert servers[0].class_lifetime_days == 180
        assert allowed_lms(db_url) == {
            3: ["canvas-1", "moodle-key-01"],
            5: ["canvas-1"],
        }

    def test_a_server_added_later_gets_the_next_number(self, ini, old_db, db_url):
        cli(["-c", ini, "import-wimslti", old_db])

        add(
            db_url,
            WimsServer(
                name="New",
                url="http://127.0.0.1:7780/wims.cgi",
                ident="i",
                passwd="p",
                rclass="r",
            ),
        )

        assert [s.id for s in all_rows(db_url, WimsServer)] == [3, 5, 6]

    def test_lms_records_keep_key_secret_and_guid(self, ini, old_db, db_url):
        cli(["-c", ini, "import-wimslti", old_db])

        lmss = {lms.key: lms for lms in all_rows(db_url, Lms)}
        assert set(lmss) == {"moodle-key-01", "canvas-1"}
        moodle = lmss["moodle-key-01"]
        assert (moodle.secret, moodle.guid, moodle.name) == (
            SECRET,
            "moodle.example.edu",
            "Moodle UPEM",
        )
        assert moodle.source == "admin"

    def test_classes_users_activities_and_grade_links(self, ini, old_db, db_url):
        cli(["-c", ini, "import-wimslti", old_db, "--lang", "fr"])

        classes = all_rows(db_url, WimsClass)
        assert [
            (c.wims_server_id, c.qclass, c.context_id, c.name) for c in classes
        ] == [
            (3, "9001", "ctx-42", "Algèbre"),
            (5, "9002", "course-7", "Physics"),
        ]
        assert all(c.state is ClassState.READY and c.lang == "fr" for c in classes)
        users = all_rows(db_url, WimsUser)
        assert [(u.lms_user_id, u.quser, u.is_supervisor) for u in users] == [
            ("u-1001", "jdoe", False),
            ("u-1002", "asmith", False),
            ("u-7", "bob", False),
        ]
        activities = all_rows(db_url, Activity)
        assert [(a.kind, a.qitem, a.resource_link_id) for a in activities] == [
            ("sheet", 1, "rl-100"),
            ("exam", 2, "rl-200"),
        ]
        links = all_rows(db_url, GradeLink)
        assert [(gl.sourcedid, gl.outcome_url) for gl in links] == [
            (SOURCEDID, OUTCOME_URL),
            ("exam-sourcedid", OUTCOME_URL),
        ]

    def test_a_second_run_imports_nothing(self, ini, old_db, db_url, capsys):
        cli(["-c", ini, "import-wimslti", old_db])
        capsys.readouterr()

        assert cli(["-c", ini, "import-wimslti", old_db]) == 0

        out = capsys.readouterr().out.splitlines()
        assert out[-1] == f"Imported {old_db}: 0 imported, 13 already there, 4 skipped"
        assert len(all_rows(db_url, WimsUser)) == 3
        assert len(all_rows(db_url, GradeLink)) == 2

    def test_the_old_database_is_left_as_it_was(self, ini, old_db):
        before = hashlib.sha256(Path(old_db).read_bytes()).hexdigest()

        cli(["-c", ini, "import-wimslti", old_db])

        assert hashlib.sha256(Path(old_db).read_bytes()).hexdigest() == before

    def test_no_secret_is_printed(self, ini, old_db, capsys):
        cli(["-c", ini, "import-wimslti", old_db])

        captured = capsys.readouterr()
        for secret in (SECRET, "canvas-secret", "wims-passwd", SOURCEDID):
            assert secret not in captured.out + captured.err

    def test_a_dry_run_writes_nothing(self, ini, old_db, db_url, capsys):
        assert cli(["-c", ini, "import-wimslti", old_db, "--dry-run"]) == 0

        out = capsys.readouterr().out.splitlines()
        assert out[-1].startswith(f"Would import {old_db}: 13 imported")
        assert all_rows(db_url, WimsServer) == []

    def test_it_is_listed_in_the_help(self, capsys):
        assert cli(["--help"]) == 0

        assert "import-wimslti" in capsys.readouterr().out


class TestWhatTheGatewayAlreadyHas:
    def test_its_own_records_win(self, ini, old_db, db_url, capsys):
        moodle = Lms(key="moodle-key-01", secret="newer-secret", name="Moodle")
        add(
            db_url,
            moodle,
            WimsServer(
                id=3,
                name="WIMS UPEM",
                url=WIMS_URL + "/",
                ident="myself",
                passwd="p",
                rclass="myclass",
                allowed_lms=[moodle],
            ),
        )

        cli(["-c", ini, "import-wimslti", old_db])

        out = capsys.readouterr().out.splitlines()
        assert "LMS: 1 imported, 1 already there, 1 skipped" in out
        assert "WIMS servers: 1 imported, 1 already there, 0 skipped" in out
        lmss = {lms.key: lms for lms in all_rows(db_url, Lms)}
        assert lmss["moodle-key-01"].secret == "newer-secret"
        assert allowed_lms(db_url)[3] == ["moodle-key-01"]
        assert len(all_rows(db_url, WimsClass)) == 2

    def test_a_number_taken_by_another_server_skips_its_classes(
        self, ini, old_db, db_url, capsys
    ):
        add(
            db_url,
            WimsServer(
                id=3,
                name="Elsewhere",
                url="http://127.0.0.1:7779/wims/wims.cgi",
                ident="i",
                passwd="p",
                rclass="r",
            ),
        )

        cli(["-c", ini, "import-wimslti", old_db])

        out = capsys.readouterr().out.splitlines()
        assert "WIMS servers: 1 imported, 0 already there, 1 skipped" in out
        assert (
            f"  skipped 1: WIMS server 3 ({WIMS_URL}): the gateway's WIMS server 3 "
            "is http://127.0.0.1:7779/wims/wims.cgi; its classes are not imported"
        ) in out
        assert "  skipped 1: their LMS or WIMS server is not imported" in out
        assert [c.qclass for c in all_rows(db_url, WimsClass)] == ["9002"]

    def test_a_server_known_under_another_number_is_skipped(
        self, ini, old_db, db_url, capsys
    ):
        add(
            db_url,
            WimsServer(
                id=1, name="Same", url=WIMS_URL, ident="i", passwd="p", rclass="r"
            ),
        )

        cli(["-c", ini, "import-wimslti", old_db])

        out = capsys.readouterr().out
        assert "the gateway has it as WIMS server 1, and /lti/C3/ links" in out
        assert [s.id for s in all_rows(db_url, WimsServer)] == [1, 5]

    def test_a_course_with_a_class_of_its_own_keeps_it(
        self, ini, old_db, db_url, capsys
    ):
        cli(["-c", ini, "import-wimslti", old_db])
        engine = get_engine(db_url)
        with engine.begin() as connection:
            connection.execute(
                sa.update(WimsClass)
                .where(WimsClass.qclass == "9001")
                .values(qclass="7777")
            )
        engine.dispose()
        capsys.readouterr()

        cli(["-c", ini, "import-wimslti", old_db])

        out = capsys.readouterr().out
        assert "the course already has another class on that server" in out


class TestBadInput:
    def test_a_missing_file(self, ini, tmp_path, capsys):
        assert cli(["-c", ini, "import-wimslti", str(tmp_path / "none.sqlite3")]) == 1

        assert capsys.readouterr().err == (
            f"wimslti import-wimslti: cannot read {tmp_path / 'none.sqlite3'}: "
            "no such file\n"
        )

    def test_a_file_that_is_not_sqlite(self, ini, tmp_path, capsys):
        path = tmp_path / "db.sqlite3"
        path.write_text("not a database at all " * 100)

        assert cli(["-c", ini, "import-wimslti", str(path)]) == 1

        err = capsys.readouterr().err
        assert err.startswith("wimslti import-wimslti: cannot read")
        assert len(err.splitlines()) == 1

    def test_another_schema(self, ini, tmp_path, capsys):
        path = tmp_path / "db.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE lti_app_lms (id integer, uuid text)")
        connection.close()

        assert cli(["-c", ini, "import-wimslti", str(path)]) == 1

        assert "table lti_app_lms has no column guid, name, url, key, secret" in (
            capsys.readouterr().err
        )


class TestLinksKeepWorking:
    def test_an_old_worksheet_link_enters_the_old_login(self, tmp_path, db_url):
        with WimsDouble.serve(
            ident="myself", passwd="wims-passwd", rclass="myclass"
        ) as wims:
            qclass = wims.add_class("9001")
            wims.add_user(qclass, "jdoe", lastname="Doe", firstname="Jane")
            wims.add_sheet(qclass)
            rows = {
                **OLD_ROWS,
                "lti_app_wims": [
                    (
                        3,
                        "WIMS UPEM",
                        wims.url,
                        200,
                        180 * DAY,
                        "myself",
                        "wims-passwd",
                        "myclass",
                    )
                ],
                "lti_app_wims_allowed_lms": [(1, 3, 1)],
                "lti_app_wimsclass": [OLD_ROWS["lti_app_wimsclass"][0]],
            }
            old_db = make_old_database(tmp_path / "db.sqlite3", rows)
            ini = write_ini(tmp_path, db_url)
            assert cli(["-c", ini, "import-wimslti", old_db]) == 0
            app = main(
                {},
                **{
                    "sqlalchemy.url": db_url,
                    "wimslti.config_dir": str(tmp_path),
                    "wimslti.sync_config_at_start": "false",
                },
            )
            try:
                testapp = webtest.TestApp(
                    app,
                    extra_environ={
                        "HTTP_HOST": "lti.example.org",
                        "wsgi.url_scheme": "https",
                    },
                )
                fields = signed_launch(
                    "https://lti.example.org/lti/C3/S1/",
                    launch_params(),
                    "moodle-key-01",
                    SECRET,
                )

                response = testapp.post("/lti/C3/S1/", fields, status=302)
            finally:
                app.registry["dbengine"].dispose()

            assert response.location.startswith(wims.url + "?session=")
            assert [job for job, _ in wims.calls] == ["getsheet", "authuser"]
            assert wims.calls[-1][1]["quser"] == "jdoe"


def write_ini(tmp_path, db_url):
    return write_gateway_ini(tmp_path / "gateway.ini", db_url, tmp_path)


@pytest.fixture
def ini(tmp_path, db_url):
    return write_ini(tmp_path, db_url)


@pytest.fixture
def old_db(tmp_path):
    return make_old_database(tmp_path / "db.sqlite3")
