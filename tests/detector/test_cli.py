"""The command-line front door: discovery, help and usage errors."""

from __future__ import annotations

from detector import cli


def test_commands_are_discovered() -> None:
    """Every module in detector.commands becomes a subcommand."""
    assert {"info", "convert"} <= set(cli.command_modules())


def test_no_command_is_a_usage_error(capsys) -> None:
    """Running with no command prints help and exits 2."""
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error() -> None:
    """argparse errors map to exit code 2, not a traceback."""
    assert cli.main(["convert", "--no-such-option"]) == 2
