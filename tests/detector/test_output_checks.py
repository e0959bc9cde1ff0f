"""Every command that writes checks its output first: one line and exit 2, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector import cli
from tests.detector.files.test_output import read_only_folder

# Inputs do not exist on purpose: the output check must come first, so they are never reached.
COMMANDS = {
    "convert": lambda out: ["convert", "/no/such/input.dcm", "--out", str(out)],
    "synth": lambda out: ["synth", "--out", str(out), "--count", "1", "--quiet"],
    "eval": lambda out: ["eval", "--truth", "/no/t.csv", "--pred", "/no/p.csv", "--plot", str(out)],
    "detect": lambda out: [
        "detect",
        "/no/such/input.dcm",
        "--model",
        "/no/m.pt",
        "--out",
        str(out),
    ],
    "train": lambda out: [
        "train",
        "--images",
        "/no/dir",
        "--labels",
        "/no/l.csv",
        "--out",
        str(out),
    ],
}
#: Commands whose output is a file (the others write a folder).
FILE_OUTPUTS = {"detect", "train"}


def _bad_outputs(tmp_path: Path, command: str) -> list[tuple[Path, str]]:
    existing_file = tmp_path / "existing-file"
    existing_file.write_text("x")
    wrong_kind = tmp_path if command in FILE_OUTPUTS else existing_file
    return [
        (tmp_path / "missing" / "out", "does not exist"),
        (wrong_kind, "is a folder" if command in FILE_OUTPUTS else "not a folder"),
    ]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_output_is_one_line_and_exit_2(command: str, tmp_path: Path, capsys) -> None:
    """A missing folder or an existing output of the wrong kind."""
    for out, message in _bad_outputs(tmp_path, command):
        code = cli.main(COMMANDS[command](out))
        err = capsys.readouterr().err
        assert code == 2, (out, err)
        assert message in err
        assert err.count("\n") == 1 and err.startswith(f"pneumoview {command}: error: ")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_folder(command: str, tmp_path: Path, capsys) -> None:
    """Output into a folder that cannot be written."""
    folder = read_only_folder(tmp_path)
    out = folder / "out.csv" if command in FILE_OUTPUTS else folder
    code = cli.main(COMMANDS[command](out))
    err = capsys.readouterr().err
    assert code == 2
    assert "not writable" in err and err.count("\n") == 1
