"""Entry point: ``pneumoview [PATH...]`` opens the viewer; ``pneumoview COMMAND ...`` runs the CLI.

Qt is imported only when the viewer is opened, so command-line use stays headless and fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("pneumoview")

#: Seconds ``--screenshot`` waits for the scan and thumbnails after the first image is drawn.
SCREENSHOT_SETTLE_S = 20.0
#: Seconds ``--screenshot`` waits for a first image at all.
SCREENSHOT_TIMEOUT_S = 120.0
#: How often (ms) the Qt event loop hands control to Python, so that a Ctrl+C is seen.
SIGINT_POLL_MS = 200
#: Exit code after Ctrl+C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from detector.cli import command_names
    from detector.cli import main as cli_main

    first = next((a for a in args if not a.startswith("-")), None)
    if first in command_names() or (args and args[0] in ("-h", "--help") and not first):
        code = cli_main(args)
        if args and args[0] in ("-h", "--help"):
            sys.stdout.write("\nViewer options:\n" + _viewer_options_help())
        return code
    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumoview", description="Open the PneumoView viewer on DICOM files and folders."
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="DICOM files or folders")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="open PATHs, wait until the first image is drawn, save a PNG of the window, exit",
    )
    parser.add_argument(
        "--demo", action="store_true", help="generate (once) and open the synthetic demo study"
    )
    parser.add_argument(
        "--labels", metavar="labels.csv", help="ground truth to import (RSNA labels CSV)"
    )
    parser.add_argument(
        "--classes", metavar="class_info.csv", help="RSNA classes to import (patientId,class)"
    )
    parser.add_argument(
        "--model", metavar="CKPT", help="detector checkpoint to load (default with --demo: demo)"
    )
    parser.add_argument(
        "--session",
        metavar="FILE",
        help="review session file (default: one per opened folder in the user data folder)",
    )
    parser.add_argument(
        "--size", metavar="WxH", help="window size in pixels, e.g. 1400x900 (default: last size)"
    )
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="check this installation offscreen (decoders, window, models, review export), "
        "print one line per check and a summary; exit 0 when all pass",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _viewer_options_help() -> str:
    text = build_parser().format_help()
    return text[text.find("positional arguments") :] if "positional arguments" in text else text


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1400x900") from None
    if w < 200 or h < 150:
        raise ValueError(f"--size {text!r}: too small (at least 200x150)")
    return w, h


def _check_review_inputs(opts: argparse.Namespace) -> str | None:
    """The first unusable --labels/--classes/--model/--session path, as one line (or None)."""
    for flag, path in (
        ("--labels", opts.labels),
        ("--classes", opts.classes),
        ("--model", opts.model),
    ):
        if path and not os.path.isfile(path):
            return f"{flag} {path}: no such file"
    if opts.session and os.path.isdir(opts.session):
        return f"--session {opts.session}: is a folder, not a session file"
    return None


def demo_study() -> tuple[str, list[str]]:
    """Generate the demo study into the per-user cache folder (once).

    Returns
    -------
    (folder, files)
        The folder (remembered in File > Recent) and its DICOM files; the labels and manifest
        beside them are not images, so they are not opened.
    """
    from viewer.platform.user_folders import demo_study_dir

    try:
        from detector.synth.phantoms import make_demo_study
    except ImportError as exc:
        raise RuntimeError(f"the demo study generator is not available ({exc})") from None
    folder = make_demo_study(demo_study_dir())
    return str(folder), sorted(str(p) for p in folder.glob("*.dcm"))


def demo_inputs(
    paths: list[str], labels: str | None, classes: str | None, model: str | None
) -> tuple[list[str], list[str], str | None, str | None, str | None]:
    """``--demo``: the demo study's files first, its ground truth and the demo model.

    Returns ``(paths, recent, labels, classes, model)``; explicit ``--labels``/``--classes``/
    ``--model`` win over the demo's.
    """
    folder, files = demo_study()
    demo_labels = os.path.join(folder, "labels.csv")
    demo_classes = os.path.join(folder, "class_info.csv")
    labels = labels or (demo_labels if os.path.isfile(demo_labels) else None)
    classes = classes or (demo_classes if os.path.isfile(demo_classes) else None)
    if model is None:
        from viewer.platform.user_folders import default_model_path

        default = default_model_path(files)  # phantoms: the demo model
        model = str(default) if default is not None else None
    return files + paths, [folder, *paths], labels, classes, model


def run(args: Sequence[str]) -> int:
    """Open the main window on the given command line (paths, --screenshot, --demo)."""
    parser = build_parser()
    try:
        opts = parser.parse_args(list(args))
        size = _parse_size(opts.size)
    except SystemExit as exc:
        return int(exc.code or 0)
    except ValueError as exc:
        sys.stderr.write(f"pneumoview: error: {exc}\n")
        return 2
    logging.basicConfig(
        level=logging.DEBUG if opts.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not opts.verbose:
        from detector.imaging.read import quiet_pydicom

        quiet_pydicom()

    if opts.selftest:
        return run_selftest()

    problem = _check_review_inputs(opts)
    if problem:
        sys.stderr.write(f"pneumoview: error: {problem}\n")
        return 2
    missing = [p for p in opts.paths if not os.path.exists(p)]
    for path in missing:
        sys.stderr.write(f"pneumoview: {path}: no such file or folder (skipped)\n")
    paths = [p for p in opts.paths if os.path.exists(p)]

    from viewer.platform import xcb_check as platform_check

    problem = platform_check.display_problem()
    if problem:  # Qt would print its own message and abort
        sys.stderr.write(f"pneumoview: {problem}\n")
        return 1
    from viewer.platform.qt_app import create_app

    try:
        app = create_app()
    except ImportError as exc:  # e.g. libEGL.so.1 missing: PySide6.QtGui cannot load
        sys.stderr.write(f"pneumoview: Qt cannot load: {exc}\n{platform_check.install_hint()}\n")
        return 1
    from PySide6 import QtCore

    from viewer.main_window import MainWindow

    demo_error = ""
    recent: list[str] | None = None
    labels, classes, model = opts.labels, opts.classes, opts.model
    if opts.demo:
        try:
            paths, recent, labels, classes, model = demo_inputs(paths, labels, classes, model)
        except Exception as exc:  # noqa: BLE001 - report, still open the viewer
            demo_error = f"Demo study not available: {exc}"
            sys.stderr.write(f"pneumoview: {demo_error}\n")

    window = MainWindow()
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    if opts.session and not window.review.open_session(opts.session):
        return _session_error(window, opts.session)
    if size is not None:
        window.resize(*size)
    sigint = CloseOnSigint(window)
    if opts.screenshot:
        window.persist_preferences = False
        job = ScreenshotJob(window, opts.screenshot)
        window.show()
        if paths:
            window.open_paths(paths, recent=recent)
            start_review(window, labels=labels, classes=classes, model=model)
        else:
            job.finish_without_image("no readable PATH given")
        code = _exec(app)
        if sigint.received:
            return EXIT_INTERRUPTED
        return job.exit_code if job.exit_code is not None else code
    window.show()
    if demo_error:
        window.statusBar().showMessage(demo_error)
    if paths:
        window.open_paths(paths, recent=recent)
    start_review(window, labels=labels, classes=classes, model=model)
    logger.debug("viewer running (Ctrl+C in this terminal closes it)")
    code = _exec(app)
    return EXIT_INTERRUPTED if sigint.received else code


def run_selftest() -> int:
    """``--selftest``: offscreen unless ``QT_QPA_PLATFORM`` asks for a display."""
    if not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from viewer.selftest import run_selftest as _run

    return _run()


def _exec(app: Any) -> int:
    """Run the event loop; then let workers queued in its last moments finish, before Python
    tears down the objects they signal through (else "Signal source has been deleted")."""
    from PySide6 import QtCore

    code = int(app.exec())
    if not QtCore.QThreadPool.globalInstance().waitForDone(10_000):
        logger.warning("background work did not stop within 10 s")
    return code


class CloseOnSigint:
    """Ctrl+C in the terminal closes the window as File > Quit does (workers stopped,
    preferences saved); a second Ctrl+C ends the process at once.

    Python runs signal handlers only between bytecodes, and while nothing happens the Qt event
    loop stays in C++: a timer hands control back to Python every ``SIGINT_POLL_MS``.
    """

    def __init__(self, window: Any) -> None:
        import signal

        from PySide6 import QtCore

        self.window = window
        self.received = False
        signal.signal(signal.SIGINT, self._on_sigint)
        self._timer = QtCore.QTimer()
        self._timer.timeout.connect(lambda: None)
        self._timer.start(SIGINT_POLL_MS)

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        import signal

        from PySide6 import QtCore

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        self.received = True
        logger.debug("Ctrl+C: closing the viewer")
        # Close from the event loop, not from inside whatever Python code was interrupted.
        QtCore.QTimer.singleShot(0, self.window.close)


def start_review(
    window: Any, *, labels: str | None, classes: str | None, model: str | None
) -> None:
    """Import the ground truth (kept for images still being scanned) and load the model."""
    if labels:
        window.review.import_labels(labels, classes)
    if model:
        window.load_model(model)


def _session_error(window: Any, path: str) -> int:
    """A session file that cannot be opened: one line on stderr, exit 2."""
    message = window.statusBar().currentMessage() or f"{path}: cannot be opened"
    sys.stderr.write(f"pneumoview: error: {message}\n")
    window.close()
    return 2


class ScreenshotJob:
    """Save a PNG of the window once the first image is drawn and loading has settled."""

    def __init__(self, window: Any, out: str) -> None:
        from PySide6 import QtCore

        self.window = window
        self.out = os.path.abspath(out)
        self.exit_code: int | None = None
        self._shown = False
        self._settle = QtCore.QTimer()
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self.save)
        window.image_shown.connect(self._on_window_image_shown)
        window.scan_finished.connect(self._check)
        window.thumbnails_finished.connect(self._check)
        self._timeout = QtCore.QTimer()
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(self._on_timeout)
        self._timeout.start(int(SCREENSHOT_TIMEOUT_S * 1000))

    def _on_window_image_shown(self, _inst: object) -> None:
        if not self._shown:
            self._shown = True
            self._settle.start(int(SCREENSHOT_SETTLE_S * 1000))
        self._check()

    def _on_timeout(self) -> None:
        if self._shown:
            self.save()  # an image was drawn: the screenshot is good even if loading goes on
        else:
            self.finish_without_image("timed out")

    def _check(self) -> None:
        if self.exit_code is not None:
            return
        busy = self.window.is_scanning or self.window.thumbnails_pending
        if self._shown and not busy:
            from PySide6 import QtCore

            # Let the last thumbnails paint before grabbing.
            QtCore.QTimer.singleShot(50, self.save)
        elif not self._shown and not busy and self.window.state.problems:
            images = self.window.state.images()
            failed = {p.path for p in self.window.state.problems}
            if not images:
                self.finish_without_image("no image could be opened")
            elif all(i.path in failed for i in images):
                # Every image was tried (the thumbnails decode them all) and none decodes.
                self.finish_without_image("no image could be displayed")

    def save(self, code: int = 0) -> None:
        if self.exit_code is not None:
            return
        from PySide6 import QtWidgets

        self._settle.stop()
        self._timeout.stop()
        os.makedirs(os.path.dirname(self.out) or ".", exist_ok=True)
        ok = self.window.grab().save(self.out, "PNG")
        if not ok:
            sys.stderr.write(f"pneumoview: {self.out}: the screenshot could not be written\n")
            code = 1
        else:
            logger.info("screenshot saved to %s", self.out)
        self.exit_code = code
        self.window.close()
        QtWidgets.QApplication.instance().exit(code)

    def finish_without_image(self, reason: str) -> None:
        """Save what the window shows, report why no image was drawn, and exit 1."""
        if self.exit_code is not None:
            return
        sys.stderr.write(f"pneumoview: --screenshot: {reason}\n")
        from PySide6 import QtCore

        QtCore.QTimer.singleShot(0, lambda: self.save(1))
