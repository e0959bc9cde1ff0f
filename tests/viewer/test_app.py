"""The entry point: CLI dispatch stays headless; --screenshot writes a PNG and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.viewer.conftest import break_pixels
from viewer.app import _parse_size, build_parser

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PNEUMOVIEW_CONFIG_DIR=str(tmp_path / "config"),
        PNEUMOVIEW_CACHE_DIR=str(tmp_path / "cache"),
        PNEUMOVIEW_DATA_DIR=str(tmp_path / "data"),
    )
    return env


def test_screenshot_writes_png(make_dicom, tmp_path):
    """`pneumoview PATH --screenshot OUT.png` saves the window once an image is drawn."""
    good = make_dicom("good.dcm", PixelSpacing=[0.2, 0.2])
    (tmp_path / "broken.dcm").write_bytes(b"junk")
    out = tmp_path / "shots" / "window.png"
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            str(good),
            str(tmp_path / "broken.dcm"),
            "--screenshot",
            str(out),
            "--size",
            "900x600",
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6 import QtGui

    image = QtGui.QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)
    assert not (tmp_path / "config" / "pneumoview.ini").exists()  # screenshot runs persist nothing


def test_screenshot_without_any_image_exits_1(tmp_path):
    """Only unreadable input: the screenshot is still saved, the exit code says it failed."""
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"")
    out = tmp_path / "window.png"
    proc = subprocess.run(
        [sys.executable, "main.py", str(bad), "--screenshot", str(out)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "no image could be opened" in proc.stderr
    assert out.exists()


def _screenshot(paths: list[Path], out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", *map(str, paths), "--screenshot", str(out)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=100,  # below the viewer's own 120 s limit: a hang fails here
    )


def test_screenshot_when_first_image_is_undecodable(make_dicom, tmp_path):
    """The first image cannot be decoded, the second can: the screenshot succeeds (exit 0)."""
    series = dict(StudyInstanceUID="5.5", SeriesInstanceUID="5.5.1", jpeg=True)
    bad = break_pixels(make_dicom("a.dcm", InstanceNumber=1, **series))
    good = make_dicom("b.dcm", InstanceNumber=2, **series)
    out = tmp_path / "shot.png"
    proc = _screenshot([bad, good], out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_screenshot_when_no_image_decodes_exits_1(make_dicom, tmp_path):
    """Headers read but no pixels decode: exit 1 with the reason, without waiting for a timeout."""
    paths = [break_pixels(make_dicom(f"{n}.dcm", jpeg=True)) for n in ("a", "b")]
    out = tmp_path / "shot.png"
    proc = _screenshot(paths, out, tmp_path)
    assert proc.returncode == 1
    assert "no image could be displayed" in proc.stderr
    assert out.exists()


def test_ctrl_c_closes_viewer(make_dicom, tmp_path):
    """SIGINT (Ctrl+C in the terminal) closes the window as Quit does: settings saved, exit 130."""
    path = make_dicom()
    proc = subprocess.Popen(
        [sys.executable, "main.py", str(path), "--verbose"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, proc.kill)  # a viewer that ignores SIGINT fails, not hangs
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "viewer running" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        code = proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
    stderr = "".join(seen) + rest
    assert code == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert (tmp_path / "config" / "pneumoview.ini").exists()  # closeEvent saved the settings


def test_subcommand_stays_headless(make_dicom, tmp_path):
    """A CLI subcommand never imports Qt or torch."""
    path = make_dicom()
    code = (
        "import sys; from viewer.app import main; rc = main(['info', sys.argv[1]]); "
        "assert 'PySide6' not in sys.modules and 'torch' not in sys.modules, 'imported'; sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


class TestParseSize:
    def test_valid(self):
        """WIDTHxHEIGHT parses to integers."""
        assert _parse_size("1400x900") == (1400, 900)
        assert _parse_size(None) is None

    def test_invalid(self):
        """A malformed size names the option and the expected form."""
        with pytest.raises(ValueError, match="expected WIDTHxHEIGHT"):
            _parse_size("big")


def test_parser_accepts_paths_and_options():
    """Paths, --screenshot and --demo parse together."""
    opts = build_parser().parse_args(["a.dcm", "folder", "--screenshot", "o.png", "--demo"])
    assert opts.paths == ["a.dcm", "folder"] and opts.screenshot == "o.png" and opts.demo


def test_bad_session_and_missing_labels_are_one_line(make_dicom, tmp_path):
    """--session on a file that is not a session / --labels missing: one line, exit 2."""
    good = make_dicom("good.dcm")
    garbage = tmp_path / "session.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 20)
    for extra, needle in (
        (["--session", str(garbage)], "session.sqlite"),
        (["--labels", str(tmp_path / "nope.csv")], "--labels"),
    ):
        proc = subprocess.run(
            [sys.executable, "main.py", str(good), *extra],
            cwd=ROOT,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
