"""CSV formula injection: the one escape rule, both directions."""

from __future__ import annotations

import pytest

from detector.rsna.csv_cells import escape_cell, escape_row, unescape_cell

HYPERLINK_NAME = '=HYPERLINK("http://evil.example/x","y")'
LOGNAME = "=cmd|' /C calc'!A0"


class TestEscapeCell:
    @pytest.mark.parametrize(
        ("text", "written"),
        [
            (HYPERLINK_NAME, "'" + HYPERLINK_NAME),
            (LOGNAME, "'" + LOGNAME),
            ("+1+cmd", "'+1+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
        ],
    )
    def test_formula_cells_get_a_quote(self, text: str, written: str) -> None:
        """A text cell that a spreadsheet would run gets one leading quote."""
        assert escape_cell(text) == written

    @pytest.mark.parametrize("text", ["abc", "", "-3.5", "+2", "-1e-05", "12", "0.9000", "'abc"])
    def test_numbers_and_plain_text_are_kept(self, text: str) -> None:
        """Negative coordinates and ordinary names are written as they are."""
        assert escape_cell(text) == text

    def test_row(self) -> None:
        """Numbers become text; each cell is escaped on its own."""
        assert escape_row(["=a", 1, -2.5, "b"]) == ["'=a", "1", "-2.5", "b"]


class TestUnescapeCell:
    @pytest.mark.parametrize(
        "text", [HYPERLINK_NAME, LOGNAME, "-2+3", "@x", "\tx", "'=x", "''@y", "abc", "-3.5", "'a"]
    )
    def test_round_trip(self, text: str) -> None:
        """Whatever is written reads back as the very same text."""
        assert unescape_cell(escape_cell(text)) == text

    def test_unescaped_form_is_accepted(self) -> None:
        """Files written before the rule (no quote) read the same."""
        assert unescape_cell(HYPERLINK_NAME) == HYPERLINK_NAME
        assert unescape_cell("'abc") == "'abc"
