"""README's command table lists every subcommand in one table (a blank line would split it)."""

from __future__ import annotations

import re
from pathlib import Path

from detector.cli import command_names

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_table(section: str) -> list[str]:
    """The rows of the first Markdown table in ``section``: consecutive lines starting '|'."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_command_table_lists_every_command():
    """Every `pneumoview COMMAND` is a row of the Command line section's (single) table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    rows = _first_table(section)
    listed = {m.group(1) for row in rows if (m := re.match(r"\| `pneumoview (\w+)", row))}
    assert listed == set(command_names())
