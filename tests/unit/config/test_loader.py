from pathlib import Path
from textwrap import dedent

import pytest

from wimslti.config.loader import (
    DeclarationError,
    InterpolationError,
    Problem,
    interpolate,
    load_declarations,
    yaml_files,
)

PROJECT_CONFIG = Path(__file__).resolve().parents[3] / "config"

LMS = """\
lms:
  - key: moodle-a
    secret: s3cr3t-a
    name: Moodle A
"""

WIMS = """\
wims:
  - id: 1
    name: Local WIMS
    url: http://127.0.0.1:7777/wims/wims.cgi
    ident: wimslti
    passwd: wimsltipass
    rclass: myclass
    allowed_lms: [moodle-a]
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems_of(config_dir, environ=None, **kwargs):
    with pytest.raises(DeclarationError) as caught:
        load_declarations(config_dir, environ or {}, **kwargs)
    return [str(problem) for problem in caught.value.errors]


class TestInterpolate:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("plain", "plain"),
            ("${SECRET}", "from-env"),
            ("https://${HOST}/wims/wims.cgi", "https://wims.example.org/wims/wims.cgi"),
            ("${UNSET:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${SECRET:-fallback}", "from-env"),
            ("${UNSET:-}", ""),
            ("${EMPTY}", ""),
            ("a$b$", "a$b$"),
            ("$${SECRET}", "${SECRET}"),
            ("p$$w", "p$$w"),
            ("${NESTED}", "${SECRET}"),
        ],
    )
    def test_it_replaces_references(self, value, expected):
        environ = {
            "SECRET": "from-env",
            "HOST": "wims.example.org",
            "EMPTY": "",
            "NESTED": "${SECRET}",
        }

        assert interpolate(value, environ) == expected

    def test_it_raises_if_the_variable_is_not_set(self):
        with pytest.raises(InterpolationError) as caught:
            interpolate("${LMS_SECRET}", {})

        assert str(caught.value) == "environment variable LMS_SECRET is not set"

    @pytest.mark.parametrize("value", ["abc${SECRET", "${}", "${1X}", "${A B}"])
    def test_it_raises_if_the_reference_is_malformed(self, value):
        with pytest.raises(InterpolationError) as caught:
            interpolate(value, {"SECRET": "x"})

        assert "$${" in str(caught.value)


class TestLoadDeclarations:
    def test_the_example_config_validates(self):
        declarations = load_declarations(PROJECT_CONFIG, {})

        assert [lms.key for lms in declarations.lms] == ["moodle-example"]
        [wims] = declarations.wims
        assert wims.id == 1
        assert wims.url == "http://127.0.0.1:7777/wims/wims.cgi"
        assert (wims.ident, wims.passwd, wims.rclass) == (
            "wimslti",
            "wimsltipass",
            "myclass",
        )
        assert wims.allowed_lms == ("moodle-example",)
        assert declarations.files == ("lms.yaml", "wims.yaml")

    def test_it_reads_every_yaml_file_in_name_order(self, config_dir):
        write(config_dir, "b.yml", WIMS)
        write(config_dir, "a.yaml", LMS)
        write(config_dir, ".hidden.yaml", "not: [valid")
        write(config_dir, "notes.txt", "not: [valid")
        write(config_dir, "lms.yaml~", "not: [valid")
        (config_dir / "sub.yaml").mkdir()

        declarations = load_declarations(config_dir, {})

        assert declarations.files == ("a.yaml", "b.yml")
        assert [path.name for path in yaml_files(config_dir)] == ["a.yaml", "b.yml"]
        [lms] = declarations.lms
        assert (lms.key, lms.source_file, lms.line) == ("moodle-a", "a.yaml", 2)
        [wims] = declarations.wims
        assert (wims.source_file, wims.entry) == ("b.yml", "wims[1] (id 1)")

    def test_a_file_may_hold_both_sections(self, config_dir):
        write(config_dir, "all.yaml", LMS + WIMS)

        declarations = load_declarations(config_dir, {})

        assert len(declarations.lms) == len(declarations.wims) == 1

    def test_empty_files_and_sections_declare_nothing(self, config_dir):
        write(config_dir, "empty.yaml", "# nothing yet\n")
        write(config_dir, "sections.yaml", "lms:\nwims: []\n")

        declarations = load_declarations(config_dir, {})

        assert declarations.lms == declarations.wims == ()

    def test_it_fills_the_defaults(self, config_dir):
        write(config_dir, "lms.yaml", LMS)
        write(config_dir, "wims.yaml", WIMS.replace("  - id: 1\n    name", "  - name"))

        [wims] = load_declarations(config_dir, {}).wims

        assert wims.id is None
        assert (wims.class_limit, wims.class_lifetime_days) == (150, 365)
        assert wims.contact_email is None

    def test_it_interpolates_the_environment(self, config_dir):
        write(
            config_dir,
            "lms.yaml",
            """\
            lms:
              - key: ${LMS_KEY}
                secret: ${LMS_SECRET}
                name: Moodle ${CITY:-Nice}
            """,
        )
        write(
            config_dir,
            "wims.yaml",
            WIMS.replace("wimsltipass", "${WIMS_PASSWD}")
            .replace("id: 1", "id: ${WIMS_ID}")
            .replace("[moodle-a]", '["${LMS_KEY}"]'),
        )
        environ = {
            "LMS_KEY": "moodle-a",
            "LMS_SECRET": "from-env",
            "WIMS_PASSWD": "pw-env",
            "WIMS_ID": "7",
        }

        declarations = load_declarations(config_dir, environ)

        [lms] = declarations.lms
        assert (lms.key, lms.secret, lms.name) == (
            "moodle-a",
            "from-env",
            "Moodle Nice",
        )
        [wims] = declarations.wims
        assert (wims.id, wims.passwd, wims.allowed_lms) == (7, "pw-env", ("moodle-a",))

    def test_it_names_the_missing_variable_and_the_field(self, config_dir):
        write(config_dir, "lms.yaml", LMS.replace("s3cr3t-a", "${MOODLE_A_SECRET}"))

        assert problems_of(config_dir) == [
            "lms.yaml:3: lms[1] (key moodle-a): secret: "
            "environment variable MOODLE_A_SECRET is not set"
        ]

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (
                ("    secret: s3cr3t-a\n", ""),
                "lms.yaml:2: lms[1] (key moodle-a): secret: Required",
            ),
            (
                ("s3cr3t-a", "1234"),
                "lms.yaml:3: lms[1] (key moodle-a): secret: "
                "must be text (put the value in quotes)",
            ),
            (
                ("    name: Moodle A\n", "    name: Moodle A\n    url: ftp://x/\n"),
                "lms.yaml:5: lms[1] (key moodle-a): url: "
                "must be an http:// or https:// URL",
            ),
            (
                ("    name: Moodle A\n", "    name: Moodle A\n    colour: blue\n"),
                "lms.yaml:2: lms[1] (key moodle-a): unknown field colour "
                "(known fields: key, secret, guid, name, url)",
            ),
            (
                ("  - key: moodle-a\n", "  - key: ''\n"),
                "lms.yaml:2: lms[1]: key: Required",
            ),
        ],
    )
    def test_lms_problems_name_file_line_entry_and_field(
        self, config_dir, change, expected
    ):
        write(config_dir, "lms.yaml", LMS.replace(*change))

        assert problems_of(config_dir) == [expected]

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (
                ("wims.cgi", "wims.cgi/"),
                "wims.yaml:4: wims[1] (id 1): url: must be the URL of wims.cgi itself, "
                "without a trailing slash, e.g. https://wims.example.org/wims/wims.cgi",
            ),
            (
                ("rclass: myclass", "rclass: my class"),
                "wims.yaml:7: wims[1] (id 1): rclass: "
                "must contain only letters, digits, '_' and '-' (no spaces)",
            ),
            (
                ("rclass: myclass", "rclass: myclass\n    class_limit: 5000"),
                "wims.yaml:8: wims[1] (id 1): class_limit: must be at most 500",
            ),
            (
                ("id: 1", "id: first"),
                "wims.yaml:2: wims[1] (url http://127.0.0.1:7777/wims/wims.cgi): "
                "id: must be a whole number",
            ),
            (
                ("[moodle-a]", "[moodle-a, '']"),
                "wims.yaml:8: wims[1] (id 1): allowed_lms[2]: Required",
            ),
            (
                ("[moodle-a]", "[moodle-a, moodle-z]"),
                "wims.yaml:8: wims[1] (id 1): allowed_lms[2]: no LMS has the key "
                "'moodle-z': declare it in an lms: list or create it in the admin",
            ),
            (
                ("    ident: wimslti\n", ""),
                "wims.yaml:2: wims[1] (id 1): ident: Required",
            ),
        ],
    )
    def test_wims_problems_name_file_line_entry_and_field(
        self, config_dir, change, expected
    ):
        write(config_dir, "lms.yaml", LMS)
        write(config_dir, "wims.yaml", WIMS.replace(*change))

        assert problems_of(config_dir) == [expected]

    def test_it_reports_every_problem_of_every_file(self, config_dir):
        write(
            config_dir,
            "a.yaml",
            """\
            lms:
              - key: moodle-a
                name: A
              - key: moodle-b
                secret: ${B_SECRET}
            """,
        )
        write(config_dir, "b.yaml", "wims:\n  - name: W\n")
        write(config_dir, "c.yaml", "lms: [\n")

        problems = problems_of(config_dir)

        assert problems == [
            "a.yaml:2: lms[1] (key moodle-a): secret: Required",
            "a.yaml:4: lms[2] (key moodle-b): name: Required",
            "a.yaml:5: lms[2] (key moodle-b): secret: "
            "environment variable B_SECRET is not set",
            "b.yaml:2: wims[1] (name W): url: Required",
            "b.yaml:2: wims[1] (name W): ident: Required",
            "b.yaml:2: wims[1] (name W): passwd: Required",
            "b.yaml:2: wims[1] (name W): rclass: Required",
            "c.yaml:2: invalid YAML: while parsing a flow node; "
            "expected the node content, but found '<stream end>' (column 1)",
        ]

    def test_invalid_yaml_is_reported_with_its_line_and_without_the_text(
        self, config_dir
    ):
        write(
            config_dir,
            "lms.yaml",
            """\
            lms:
              - key: moodle-a
                secret: "very-secret
                name: A
            """,
        )

        [problem] = problems_of(config_dir)

        assert problem.startswith("lms.yaml:5: invalid YAML: while scanning a quoted")
        assert "(line 3)" in problem
        assert "very-secret" not in problem

    def test_a_field_given_twice_is_an_error(self, config_dir):
        write(config_dir, "lms.yaml", LMS + "    secret: other-secret\n")

        [problem] = problems_of(config_dir)

        assert problem == (
            "lms.yaml:5: invalid YAML: while reading a mapping (line 2); "
            "found the field 'secret' twice (column 5)"
        )

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("- lms\n", "doc.yaml:1: must be a mapping with lms: and/or wims: lists"),
            (
                "lms: []\nservers: []\n",
                "doc.yaml:2: unknown section servers; the sections are lms and wims",
            ),
            (
                "lms:\n  key: moodle-a\n",
                "doc.yaml:1: lms must be a list of entries, each starting with '- '",
            ),
            (
                "lms:\n  - moodle-a\n",
                "doc.yaml:1: lms[1]: must be a mapping of field: value lines",
            ),
        ],
    )
    def test_it_reports_misshapen_documents(self, config_dir, text, expected):
        write(config_dir, "doc.yaml", text)

        assert problems_of(config_dir) == [expected]

    def test_it_reports_a_file_that_is_not_utf8(self, config_dir):
        (config_dir / "lms.yaml").write_bytes(b"lms:\n  - name: Universit\xe9\n")

        assert problems_of(config_dir) == ["lms.yaml: is not UTF-8 text"]

    def test_it_reports_a_missing_folder(self, tmp_path):
        assert problems_of(tmp_path / "nowhere") == [
            f"{tmp_path / 'nowhere'}: is not a folder"
        ]

    def test_duplicate_lms_keys_across_files_are_errors(self, config_dir):
        write(config_dir, "a.yaml", LMS)
        write(config_dir, "b.yaml", LMS.replace("Moodle A", "Moodle again"))

        assert problems_of(config_dir) == [
            "b.yaml:2: lms[1] (key moodle-a): key: "
            "this key is already declared in a.yaml:2 (lms[1])"
        ]

    def test_duplicate_wims_ids_and_urls_are_errors(self, config_dir):
        write(config_dir, "lms.yaml", LMS)
        write(config_dir, "a.yaml", WIMS)
        write(
            config_dir,
            "b.yaml",
            WIMS
            + WIMS.replace("wims:\n", "")
            .replace("id: 1", "id: 2")
            .replace("127.0.0.1", "[::1]"),
        )

        assert problems_of(config_dir) == [
            "b.yaml:2: wims[1] (id 1): id: this id is already declared in a.yaml:2 "
            "(wims[1])",
            "b.yaml:4: wims[1] (id 1): url: this url is already declared in a.yaml:2 "
            "(wims[1])",
        ]

    def test_urls_differing_only_in_case_are_the_same(self, config_dir):
        write(config_dir, "lms.yaml", LMS)
        write(
            config_dir,
            "wims.yaml",
            WIMS
            + WIMS.replace("wims:\n", "")
            .replace("id: 1", "id: 2")
            .replace("http://127.0.0.1", "HTTP://127.0.0.1"),
        )

        [problem] = problems_of(config_dir)

        assert "url: this url is already declared in wims.yaml:2" in problem

    def test_allowed_lms_may_name_a_key_made_in_the_admin(self, config_dir):
        write(config_dir, "wims.yaml", WIMS)

        [wims] = load_declarations(config_dir, {}, known_lms_keys={"moodle-a"}).wims

        assert wims.allowed_lms == ("moodle-a",)

    def test_no_problem_ever_shows_a_secret(self, config_dir):
        write(
            config_dir,
            "lms.yaml",
            """\
            lms:
              - key: moodle-a
                secret: 31337
                name: [A]
                secrett: hidden-lms-secret
              - key: moodle-a
                secret: hidden-dup-secret
            """,
        )
        write(
            config_dir,
            "wims.yaml",
            WIMS.replace("passwd: wimsltipass", "passwd: ${PW:-hidden-default}")
            .replace("rclass: myclass", "rclass: 99\n    pasword: hidden-passwd")
            .replace("id: 1", "id: -1"),
        )

        problems = "\n".join(problems_of(config_dir, {"PW": ""}))

        assert ": passwd:" not in problems
        for secret in ("31337", "hidden"):
            assert secret not in problems

    def test_declarations_do_not_show_secrets_in_their_repr(self):
        declarations = load_declarations(PROJECT_CONFIG, {})

        assert "wimsltipass" not in repr(declarations)
        assert declarations.lms[0].secret not in repr(declarations)

    def test_problem_text_skips_what_is_unknown(self):
        assert (
            str(Problem("a.yaml", "is not UTF-8 text")) == "a.yaml: is not UTF-8 text"
        )
        assert str(Problem("a.yaml", "bad", line=3, entry="lms[1]", field="key")) == (
            "a.yaml:3: lms[1]: key: bad"
        )

    @pytest.fixture
    def config_dir(self, tmp_path):
        folder = tmp_path / "config"
        folder.mkdir()
        return folder


class TestEmptyFolder:
    def test_a_folder_without_yaml_changes_nothing(self, tmp_path):
        with pytest.raises(DeclarationError) as caught:
            load_declarations(tmp_path)

        assert "holds no .yaml file" in str(caught.value)

    def test_an_explicitly_empty_file_may_retire_everything(self, tmp_path):
        (tmp_path / "empty.yaml").write_text("lms: []\nwims: []\n")

        declarations = load_declarations(tmp_path)

        assert (declarations.lms, declarations.wims) == ((), ())
