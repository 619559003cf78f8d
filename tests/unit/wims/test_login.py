import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wimslti.wims.login import (
    derive_login,
    is_acceptable_login,
    login_candidates,
    wims_login,
)


class TestDeriveLogin:
    @pytest.mark.parametrize(
        ("given", "family", "expected"),
        [
            ("Camille", "Durand", "cdurand"),
            ("Jean", "Dupont", "jdupont"),
            ("Al", "Wu", "awu1"),
            ("Łukasz", "Żółć", "lzolc"),
            ("Σωκράτης", "Παπαδόπουλος", "spapadopoulos"),
            ("Søren", "Kierkegaard", "skierkegaard"),
            ("Bjørn", "Ødegård", "bodegard"),
            ("Æsa", "Strauß", "astrauss"),
            ("Zoë", "Œuvray", "zoeuvray"),
            ("Đorđe", "Þórsson", "dthorsson"),
            ("Anne-Marie", "de La Fontaine", "adelafontaine"),
            ("Иван", "Петров", "ipetrov"),
        ],
    )
    def test_it_joins_initial_and_family_name(self, given, family, expected):
        assert derive_login(given=given, family=family, user_id="u-1") == expected

    def test_an_empty_given_name_is_not_an_error(self):
        assert derive_login(given="", family="Doe", user_id="u-1") == "doe1"

    def test_it_pads_short_logins_with_digits(self):
        assert derive_login(given="A", family="B", user_id="u-1") == "ab12"

    def test_it_cuts_long_family_names(self):
        login = derive_login(given="Jo", family="x" * 40, user_id="u-1")

        assert login == "j" + "x" * 19

    def test_it_falls_back_to_the_full_name_split_on_its_last_space(self):
        login = derive_login(full="Camille de Durand", user_id="u-1")

        assert login == "cdurand"

    def test_it_falls_back_to_the_given_name_alone(self):
        assert derive_login(given="Camille", user_id="u-1") == "camille"

    def test_it_falls_back_to_the_email_local_part(self):
        login = derive_login(given="😀", email="jean.dupont@example.org", user_id="1")

        assert login == "jeandupont"

    def test_it_falls_back_to_a_hash_of_the_user_id(self):
        login = derive_login(given="😀", family="🎓", full="", user_id="u-1")

        assert login.startswith("u") and len(login) == 8
        assert login == derive_login(user_id="u-1")
        assert login != derive_login(user_id="u-2")

    def test_it_transliterates_other_scripts_rather_than_dropping_them(self):
        assert derive_login(given="", family="中文", user_id="u-1") == "zhongwen"

    def test_it_never_returns_supervisor(self):
        login = derive_login(given="S", family="Upervisor", user_id="u-1")

        assert login == "supervisor1"

    def test_it_is_deterministic(self):
        first = derive_login(given="Élodie", family="Müller", user_id="u-1")

        assert first == derive_login(given="Élodie", family="Müller", user_id="u-9")
        assert first == "emuller"

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"given": "Al", "family": "Wu"},
            {"family": "Ö"},
            {"given": "\ud800", "family": "\U0001f600"},
            {"full": "   "},
            {"email": "@"},
            {"given": "S", "family": "upervisor"},
            {"family": "a.b c-d;e"},
        ],
    )
    def test_wims_keeps_every_derived_login_unchanged(self, kwargs):
        login = derive_login(user_id="u-1", **kwargs)

        assert is_acceptable_login(login)
        assert len(login) <= 20


class TestLoginCandidates:
    def test_it_yields_the_base_then_numbered_variants(self):
        candidates = list(itertools.islice(login_candidates("jdupont"), 4))

        assert candidates == ["jdupont", "jdupont1", "jdupont2", "jdupont3"]

    def test_it_cuts_the_base_to_keep_24_characters(self):
        base = "x" * 24
        candidates = list(itertools.islice(login_candidates(base), 12))

        assert candidates[1] == "x" * 23 + "1"
        assert candidates[10] == "x" * 22 + "10"
        assert all(len(candidate) <= 24 for candidate in candidates)

    def test_it_never_yields_the_same_login_twice(self):
        base = "x" * 22 + "1z"
        candidates = list(itertools.islice(login_candidates(base), 200))

        assert len(set(candidates)) == len(candidates)

    def test_it_skips_logins_wims_refuses(self):
        assert next(login_candidates("supervisor")) == "supervisor1"
        assert next(login_candidates("awu")) == "awu1"

    def test_it_refuses_a_base_wims_would_rewrite(self):
        with pytest.raises(ValueError, match="not a WIMS login base"):
            login_candidates("anne.martin")


class TestWimsLogin:
    @pytest.mark.parametrize(
        ("quser", "expected"),
        [
            ("anne.martin", "anne@martin"),
            ("ext-123", "ext-123"),
            ("é(x)y z", "xy"),
            ("jdoe", "jdoe"),
        ],
    )
    def test_it_applies_the_wims_rules(self, quser, expected):
        assert wims_login(quser) == expected

    @pytest.mark.parametrize(
        ("quser", "acceptable"),
        [
            ("jdoe", True),
            ("abc", False),
            ("x" * 25, False),
            ("supervisor", False),
            ("anne.martin", False),
        ],
    )
    def test_is_acceptable_login(self, quser, acceptable):
        assert is_acceptable_login(quser) is acceptable


class TestAnyName:
    @settings(max_examples=300)
    @given(
        given_name=st.text(max_size=40),
        family=st.text(max_size=80),
        full=st.text(max_size=80),
        email=st.text(max_size=40),
        user_id=st.text(min_size=1, max_size=60),
    )
    def test_names_in_any_script_give_a_login_wims_keeps(
        self, given_name, family, full, email, user_id
    ):
        base = derive_login(
            given=given_name or None,
            family=family or None,
            full=full or None,
            email=email or None,
            user_id=user_id,
        )

        assert is_acceptable_login(base)
        assert all(
            is_acceptable_login(c) for c in itertools.islice(login_candidates(base), 30)
        )
