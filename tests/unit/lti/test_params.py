from datetime import date

import pytest

from tests.lti_consumer import BASE_LAUNCH
from wimslti.lti.errors import InvalidLaunchParameters
from wimslti.lti.params import language_of, parse_launch

TODAY = date(2026, 12, 4)


def parse(**changes):
    params = {**BASE_LAUNCH, "oauth_consumer_key": "k"}
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return parse_launch(params, today=TODAY)


def problems(**changes):
    with pytest.raises(InvalidLaunchParameters) as caught:
        parse(**changes)
    return " | ".join(caught.value.problems)


class TestParseLaunch:
    def test_it_reads_the_base_launch(self):
        launch = parse()

        assert launch.resource_link_id == "rl-100"
        assert launch.context_id == "ctx-42"
        assert launch.person.user_id == "u-1001"
        assert launch.person.firstname == "Camille"
        assert launch.person.lastname == "Durand"
        assert launch.lang == "fr"
        assert launch.accepts_grades
        assert launch.institution == "Université Exemple"

    @pytest.mark.parametrize(
        ("name", "value", "named"),
        [
            ("resource_link_id", None, "resource_link_id"),
            ("user_id", None, "user_id"),
            ("context_id", None, "context_id"),
            ("roles", None, "roles"),
            ("lti_version", None, "lti_version"),
            ("lti_version", "LTI-1", "lti_version"),
            ("lti_version", "LTI-2p0", "lti_version"),
            ("lti_message_type", None, "lti_message_type"),
            ("lti_message_type", "a-basic-lti-launch-request", "lti_message_type"),
        ],
    )
    def test_it_names_the_wrong_parameter(self, name, value, named):
        assert named in problems(**{name: value})

    def test_it_lists_every_missing_parameter(self):
        text = problems(user_id=None, context_id=None, resource_link_id=None)

        assert "user_id" in text
        assert "context_id" in text
        assert "resource_link_id" in text

    def test_names_and_email_are_optional(self):
        launch = parse(
            lis_person_name_given=None,
            lis_person_name_family=None,
            lis_person_name_full=None,
            lis_person_contact_email_primary=None,
        )

        assert launch.person.firstname == ""
        assert launch.person.lastname == ""

    def test_a_full_name_alone_is_split_on_its_last_space(self):
        launch = parse(
            lis_person_name_given=None,
            lis_person_name_family=None,
            lis_person_name_full="Jane Q. Lastname",
        )

        assert launch.person.firstname == "Jane Q."
        assert launch.person.lastname == "Lastname"

    def test_a_launch_without_outcome_parameters_accepts_no_grades(self):
        assert not parse(lis_result_sourcedid=None).accepts_grades

    def test_it_lower_cases_custom_parameter_names(self):
        launch = parse(Custom_Class_Lang="es")

        assert launch.class_options.lang == "es"

    def test_it_explains_a_doubled_custom_prefix(self):
        text = problems(custom_custom_class_lang="fr", custom_custom_class_limit="40")

        assert "custom_custom_class_lang" in text
        assert "class_lang=" in text
        assert "twice" in text

    @pytest.mark.parametrize(
        ("name", "value", "rule"),
        [
            ("custom_class_expiration", "20190101", "after today"),
            ("custom_class_expiration", "2030-01-01", "yyyymmdd"),
            ("custom_class_expiration", "20300101", "20271204"),
            ("custom_class_limit", "1000", "from 5 to 500"),
            ("custom_class_limit", "ten", "from 5 to 500"),
            ("custom_class_lang", "xx", "accepted: en, fr"),
            ("custom_class_level", "Z9", "accepted: E1"),
            ("custom_class_email", "not-an-email", "e-mail address"),
            ("custom_supervisor_email", "x@", "e-mail address"),
            ("custom_class_name", "x" * 300, "255"),
        ],
    )
    def test_it_refuses_bad_custom_values_naming_the_rule(self, name, value, rule):
        text = problems(**{name: value})

        assert name in text
        assert rule in text

    def test_it_accepts_good_custom_values(self):
        options = parse(
            custom_class_expiration="20270601",
            custom_class_limit="40",
            custom_class_level="u2",
            custom_class_name="Analyse",
            custom_class_css="my-theme.css",
        ).class_options

        assert options.expiration == date(2027, 6, 1)
        assert options.limit == 40
        assert options.level == "U2"
        assert options.name == "Analyse"

    def test_unknown_custom_parameters_and_placeholders_are_ignored(self):
        launch = parse(
            custom_context_memberships_url="$ToolProxyBinding.memberships.url",
            tool_consumer_instance_guid="IMS Testing",
        )

        assert launch.guid == "IMS Testing"


class TestLanguageOf:
    @pytest.mark.parametrize(
        ("locale", "lang"),
        [
            ("fr-FR", "fr"),
            ("en_US", "en"),
            ("es", "es"),
            ("zh-TW", "tw"),
            ("zh-CN", "cn"),
            ("pt-BR", "en"),
            ("", "en"),
        ],
    )
    def test_it_maps_locales_to_wims_languages(self, locale, lang):
        assert language_of(locale) == lang


class TestLengths:
    @pytest.mark.parametrize("name", ["user_id", "context_id", "resource_link_id"])
    def test_overlong_identifiers_are_refused(self, name):
        assert f"{name} is longer than 255" in problems(**{name: "x" * 256})

    def test_overlong_names_are_cut(self):
        launch = parse(lis_person_name_family="D" * 1000, context_title="T" * 1000)

        assert len(launch.person.lastname) == 255
        assert len(launch.context_title) == 255

    def test_long_outcome_urls_and_sourcedids_are_kept(self):
        url = "https://lms.example.edu/outcomes?" + "x" * 1000

        launch = parse(lis_outcome_service_url=url, lis_result_sourcedid="s" * 2000)

        assert launch.outcome_url == url
        assert len(launch.sourcedid) == 2000
