"""``pneumoview`` command line (Qt-free): ``pneumoview <command> ...``.

Each module in :mod:`detector.commands` is one subcommand. It defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Exit codes: 0 success, 1 some inputs failed
(the rest were processed), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

import detector.commands
from detector.errors import PneumoViewError
from detector.imaging.read import quiet_pydicom

log = logging.getLogger("pneumoview")


def command_modules() -> dict[str, ModuleType]:
    """Subcommand name -> module, discovered in :mod:`detector.commands`."""
    mods: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(detector.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"detector.commands.{info.name}")
        mods[mod.NAME] = mod
    return mods


def command_names() -> set[str]:
    return {
        info.name.replace("_", "-") for info in pkgutil.iter_modules(detector.commands.__path__)
    }


class UsageError(Exception):
    """Bad arguments discovered after parsing (exit code 2)."""


def build_parser(mods: dict[str, ModuleType] | None = None) -> argparse.ArgumentParser:
    mods = mods if mods is not None else command_modules()
    parser = argparse.ArgumentParser(
        prog="pneumoview",
        description="PneumoView: chest X-ray DICOM viewer and lung-opacity detector. "
        "Without a command, opens the viewer on PATHs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    mods = command_modules()
    parser = build_parser(mods)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # pydicom warns about every oddity it meets; our own messages already give file and reason.
    if not args.verbose:
        quiet_pydicom()
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(mods[args.command].run(args))
    except UsageError as exc:
        sys.stderr.write(f"pneumoview {args.command}: error: {exc}\n")
        return 2
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error. Silence the final flush.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except PneumoViewError as exc:  # a file that cannot be used: "<file name>: <reason>"
        sys.stderr.write(f"pneumoview {args.command}: error: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, no traceback
        log.debug("unhandled error", exc_info=True)
        sys.stderr.write(f"pneumoview {args.command}: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
