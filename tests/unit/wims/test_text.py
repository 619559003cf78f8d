import pytest

from wimslti.wims.text import clean_value, is_balanced, to_latin1


class TestToLatin1:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Élodie Müller", "Élodie Müller"),
            ("Øvergård Straße", "Øvergård Straße"),
            ("Mathématiques – cœur", "Mathématiques - coeur"),
            ("Œuvre — suite", "OEuvre - suite"),
            ("prix : 5 €", "prix : 5 EUR"),
            ("Łucja", "Lucja"),
            ("łódź", "lódz"),
            ("Σωκράτης", "Sokrates"),
            ("Иван Петров", "Ivan Petrov"),
            ("Zoë 🎓", "Zoë "),
            ("l’école “libre”", 'l\'école "libre"'),
            ("ﬁn", "fin"),
            ("Ştefan Ăn", "Stefan An"),
        ],
    )
    def test_it_keeps_latin1_and_transliterates_the_rest(self, text, expected):
        assert to_latin1(text) == expected

    def test_it_composes_decomposed_accents_before_deciding(self):
        assert to_latin1("e\u0301te\u0301") == "été"

    @pytest.mark.parametrize(
        "text",
        ["\ud83d", "\U0001f600\u200d\U0001f4bb", "\ue000"],
    )
    def test_it_drops_what_has_no_spelling_without_raising(self, text):
        assert to_latin1(text) == ""

    def test_its_result_always_encodes_to_latin1(self):
        text = "".join(chr(code) for code in range(0x100, 0x3000))

        to_latin1(text).encode("iso-8859-1")

    def test_it_returns_empty_for_empty(self):
        assert to_latin1("") == ""


class TestCleanValue:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Groupe (A", "Groupe A"),
            ("Dupont (A)", "Dupont (A)"),
            ("smile :-)", "smile :-"),
            ("a ] b [ c", "a b c"),
            ("([)]", "[]"),
            ("{x} [y] (z)", "{x} [y] (z)"),
        ],
    )
    def test_it_drops_unmatched_brackets(self, text, expected):
        assert clean_value(text, 100) == expected

    def test_it_puts_the_value_on_one_line(self):
        assert clean_value("line 1\nline 2\r\n\tend", 100) == "line 1 line 2 end"

    def test_it_removes_quotes_and_backslashes(self):
        assert clean_value('O"Brien Back\\slash', 100) == "OBrien Backslash"

    def test_it_keeps_equal_signs_out_of_the_value(self):
        assert clean_value("x=2", 100) == "x-2"

    def test_it_never_starts_with_a_wims_command_mark(self):
        assert clean_value("!exec rm", 100) == "exec rm"

    def test_it_transliterates(self):
        assert clean_value("Cours – cœur €", 100) == "Cours - coeur EUR"

    def test_it_cuts_to_max_length(self):
        assert clean_value("abcdefghij", 4) == "abcd"

    def test_cutting_never_leaves_an_unbalanced_bracket(self):
        value = clean_value("abc (defghij) kl", 8)

        assert value == "abc def"
        assert is_balanced(value)

    def test_it_strips_and_collapses_spaces(self):
        assert clean_value("  a   b  ", 100) == "a b"

    def test_it_returns_empty_for_a_non_positive_limit(self):
        assert clean_value("abc", 0) == ""

    @pytest.mark.parametrize(
        "text",
        ["(((", ")))", "a(b]c{d)e}", "\U0001f600" * 5, "x" * 1000, "'\"\\\n(["],
    )
    def test_every_result_is_safe_for_wims(self, text):
        value = clean_value(text, 50)

        assert len(value) <= 50
        assert is_balanced(value)
        assert not set(value) & set('"\\\n\r\t=')
        value.encode("iso-8859-1")


class TestIsBalanced:
    @pytest.mark.parametrize("text", ["", "a(b)c", "[{()}]", "no brackets"])
    def test_balanced(self, text):
        assert is_balanced(text)

    @pytest.mark.parametrize("text", ["(", ":-)", "([)]", "}{"])
    def test_unbalanced(self, text):
        assert not is_balanced(text)
