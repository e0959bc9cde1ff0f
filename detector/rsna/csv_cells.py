"""CSV cells against formula injection (OWASP "CSV injection"), both directions.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some
programs, a tab or carriage return first) as a formula: a file named
``=HYPERLINK("http://x","y").dcm`` or a reviewer called ``=cmd|' /C calc'!A0`` would run
when a CSV PneumoView wrote is opened in Excel or LibreOffice. Every CSV writer passes its
cells through :func:`escape_cell`, which prefixes such a text cell with a single quote
``'`` (the OWASP rule; the spreadsheet shows the text as written). Numbers (``-3.5``) are
left as they are. Every CSV reader passes its cells through :func:`unescape_cell`, so files
written before and after this rule read the same.

The rule is exactly reversible: a cell is escaped when, after any leading quotes, it starts
with one of :data:`FORMULA_STARTS`, and one leading quote is removed from such a cell when
it is read; ``'=x`` (a name that really starts with a quote) is written ``''=x`` and reads back
as ``'=x``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: First characters a spreadsheet treats as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


def escape_cell(text: str) -> str:
    """A cell as written: ``'`` + ``text`` when it would start a formula, else ``text``.

    Examples
    --------
    >>> escape_cell('=HYPERLINK("x","y")'), escape_cell("-3.5"), escape_cell("abc")
    ('\\'=HYPERLINK("x","y")', '-3.5', 'abc')
    """
    if _ESCAPE.match(text) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """A cell as read: the quote :func:`escape_cell` added is removed (both forms accepted).

    Examples
    --------
    >>> unescape_cell("'=1+2"), unescape_cell("=1+2"), unescape_cell("'abc")
    ('=1+2', '=1+2', "'abc")
    """
    return text[1:] if _ESCAPED.match(text) else text


def escape_row(row: Iterable[object]) -> list[str]:
    """Every cell of a row through :func:`escape_cell` (non-strings as ``str``)."""
    return [escape_cell(cell if isinstance(cell, str) else str(cell)) for cell in row]
