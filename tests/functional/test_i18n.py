"""The pages for people in English and French, from the launch or the browser."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import webtest

from tests.functional.conftest import PUBLIC_HOST
from tests.functional.launching import launch, teacher_launch
from tests.functional.test_admin import log_in, make_admin, text_of
from tests.lti_consumer import RETURN_URL
from wimslti import main
from wimslti.models import WimsClass

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "wimslti.languages": "en fr"}


def browser(app, **environ):
    return webtest.TestApp(
        app,
        extra_environ={"HTTP_HOST": PUBLIC_HOST, "wsgi.url_scheme": "https", **environ},
    )


@pytest.fixture
def french_browser(app):
    return browser(app, HTTP_ACCEPT_LANGUAGE=FRENCH["Accept-Language"])


def message(page):
    return " ".join(page.html.select_one("p.message").get_text().split())


def the_qclass(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(WimsClass.qclass)).one()


@pytest.mark.usefixtures("server")
class TestARefusedLaunch:
    def test_a_french_launch_gets_a_french_page(self, testapp):
        page = launch(testapp, launch_presentation_locale="fr-FR", status=403)

        assert page.html.html["lang"] == "fr"
        assert page.html.h1.get_text() == "Non autorisé"
        assert message(page) == (
            "La classe WIMS de ce cours n'existe pas encore : votre enseignant "
            "doit d'abord ouvrir cette activité une fois."
        )
        assert "Référence pour l'administrateur" in text_of(page)

    def test_the_lms_gets_the_french_message_and_the_english_log(self, testapp):
        response = launch(
            testapp,
            launch_presentation_locale="fr-FR",
            launch_presentation_return_url=RETURN_URL,
        )

        query = parse_qs(urlsplit(response.location).query)
        assert query["lti_errormsg"] == [
            "La classe WIMS de ce cours n'existe pas encore : votre enseignant "
            "doit d'abord ouvrir cette activité une fois."
        ]
        assert query["lti_errorlog"] == [
            "class not created yet and the launcher is no teacher"
        ]

    def test_the_launch_language_wins_over_the_browser(self, french_browser):
        page = launch(french_browser, launch_presentation_locale="en-GB", status=403)

        assert "teacher has to open this activity" in message(page)

    def test_a_launch_language_without_pages_leaves_it_to_the_browser(
        self, french_browser
    ):
        page = launch(french_browser, launch_presentation_locale="de-DE", status=403)

        assert "votre enseignant doit d'abord ouvrir" in message(page)

    def test_an_unknown_language_gets_english(self, app):
        german = browser(app, HTTP_ACCEPT_LANGUAGE="de-DE, es;q=0.5")

        page = launch(german, launch_presentation_locale="de-DE", status=403)

        assert page.html.html["lang"] == "en"
        assert "teacher has to open this activity" in message(page)

    def test_wrong_parameters_are_told_in_french(self, testapp, wims):
        page = teacher_launch(
            testapp,
            launch_presentation_locale="fr-FR",
            custom_class_limit="9999",
            custom_class_lang="xx",
            status=400,
        )

        assert page.html.h1.get_text() == "Ce lancement ne peut pas continuer"
        assert message(page) == (
            "Le lancement ne peut pas continuer : "
            "custom_class_lang='xx' n'est pas une langue de WIMS (valeurs "
            "acceptées : en, fr, es, it, nl, de, cn, ca, si, tw); "
            "custom_class_limit='9999' doit être un nombre entier de 5 à 500."
        )
        assert wims.count() == 0

    def test_a_replayed_launch_is_told_in_french(self, testapp):
        teacher_launch(testapp)
        # OAuth nonces are unique per timestamp: both launches carry the same.
        now = int(time.time())
        launch(testapp, nonce="same-nonce-1", timestamp=now)

        page = launch(testapp, nonce="same-nonce-1", timestamp=now, status=403)

        assert message(page) == (
            "Ce lancement a déjà servi. Cliquez à nouveau sur le lien dans votre "
            "plateforme pour en démarrer un nouveau."
        )

    def test_a_closed_worksheet_is_told_in_french(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        wims.add_sheet(the_qclass(dbsession), status=0)

        page = launch(testapp, "/lti/C1/S1/", status=403)

        assert message(page) == (
            "État de cette activité (feuille d'exercices 1) : pas encore "
            "ouverte. Vous pourrez l'ouvrir quand votre enseignant l'aura "
            "activée."
        )

    def test_a_wims_failure_is_told_in_french(self, testapp, wims):
        teacher_launch(testapp)
        wims.fail_next("authuser", "busy")

        page = launch(testapp, status=503)

        assert message(page) == (
            "WIMS est occupé ou injoignable pour l'instant ; réessayez bientôt."
        )


@pytest.mark.usefixtures("server")
class TestThePagesOfTheBrowser:
    def test_the_links_page_speaks_french_to_a_french_browser(self, testapp):
        page = testapp.get("/links/", headers=FRENCH)

        assert page.html.html["lang"] == "fr"
        assert page.html.h1.get_text() == "URL de lancement"
        assert "Enregistrer l'outil dans la plateforme" in text_of(page)
        assert [b.get_text() for b in page.html.select("button[data-copy]")] == [
            "Copier",
            "Copier",
        ]
        assert '"Copi\\u00e9"' in page.text

    def test_an_unknown_language_gets_the_english_page(self, testapp):
        page = testapp.get("/links/", headers={"Accept-Language": "de, ja;q=0.8"})

        assert page.html.html["lang"] == "en"
        assert page.html.h1.get_text() == "Launch URLs"

    def test_no_language_gets_the_english_page(self, testapp):
        assert testapp.get("/links/").html.h1.get_text() == "Launch URLs"

    def test_the_get_of_a_launch_url_speaks_french(self, testapp):
        page = testapp.get("/lti/C1/", headers=FRENCH, status=405)

        assert page.html.h1.get_text() == (
            "Cette adresse doit être lancée depuis une plateforme d'apprentissage"
        )
        assert f"L'URL à coller : <code>https://{PUBLIC_HOST}/lti/C1/</code>" in (
            page.text
        )

    def test_the_not_found_page_speaks_french(self, testapp):
        page = testapp.get("/lti/C9/", headers=FRENCH, status=404)

        assert page.html.h1.get_text() == "Introuvable"
        assert message(page).startswith(
            "Cette passerelle n'a ni serveur WIMS, ni classe, ni feuille"
        )

    def test_the_diagnostic_speaks_the_launch_language(self, testapp):
        page = launch(
            testapp, "/lti/test/", launch_presentation_locale="fr-CA", status=200
        )

        verdict = page.html.select_one(".verdict").get_text()
        assert verdict == "Un vrai lancement avec ces paramètres serait accepté."
        row = page.html.select_one("#check-nonce").find_all("td")
        assert [cell.get_text() for cell in row[:2]] == ["nonce", "bon"]
        assert row[2].get_text().startswith("Le nonce n'a pas encore servi")

    def test_the_diagnostic_explains_a_refusal_in_french(self, testapp):
        page = launch(
            testapp,
            "/lti/test/",
            url=f"http://{PUBLIC_HOST}/lti/test/",
            launch_presentation_locale="fr-FR",
            status=200,
        )

        text = page.html.select_one("#check-signature").get_text(" ")
        assert "La signature n'est valide que pour http://" in text
        assert "http ou https : la plateforme a signé le lancement pour http://" in (
            text
        )
        assert "Écrivez l'URL de l'outil dans la plateforme avec https://" in text


@pytest.mark.usefixtures("server")
class TestTheClassPage:
    def test_it_speaks_the_teachers_language(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        wims.add_sheet(the_qclass(dbsession), title="Vecteurs", status=1)
        launch(browser(testapp.app), "/lti/C1/S1/")

        page = teacher_launch(testapp, "/lti/C1/links/", status=200)

        assert page.html.h1.get_text().startswith(
            "Feuilles d'exercices et examens de la classe Algèbre linéaire L1"
        )
        cells = [c.get_text(strip=True) for c in page.html.select("tr.item td")]
        assert cells[2] == "accessible aux élèves"
        assert cells[4] == "pour 1 élève"
        assert "La classe n'a pas encore d'examen." in text_of(page)

    def test_a_learner_is_refused_in_french(self, testapp):
        teacher_launch(testapp)

        page = launch(testapp, "/lti/C1/links/", status=403)

        assert message(page).startswith(
            "Cette activité est réservée aux enseignants du cours"
        )

    def test_the_admin_sees_it_in_english(self, app, testapp, session_factory):
        teacher_launch(testapp)
        make_admin(session_factory)
        admin = browser(
            app, HTTP_ORIGIN=f"https://{PUBLIC_HOST}", HTTP_ACCEPT_LANGUAGE="fr"
        )
        log_in(admin)

        page = admin.get("/admin/classes/1/")

        assert page.html.html["lang"] == "en"
        assert "The class has no exam yet." in text_of(page)


class TestWithoutFrench:
    def test_the_pages_stay_english_unless_french_is_turned_on(
        self, app_settings, server
    ):
        settings = {**app_settings, "wimslti.languages": "en"}
        app = main({}, **settings)
        try:
            client = browser(app, HTTP_ACCEPT_LANGUAGE="fr")

            page = client.get("/links/")
            refused = launch(client, launch_presentation_locale="fr-FR", status=403)
        finally:
            app.registry["dbengine"].dispose()

        assert page.html.h1.get_text() == "Launch URLs"
        assert "teacher has to open this activity" in message(refused)
