"""Output checks, atomic writes and the clean-up of temp files left by killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from detector.files.output import (
    OutputError,
    atomic_open,
    atomic_write_text,
    check_output_dir,
    check_output_file,
    remove_stale_temp_files,
)


def read_only_folder(tmp_path: Path) -> Path:
    """A folder nobody can create files in (chmod for users; /sys for root)."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink(name)
    pytest.skip("no read-only folder available to root here")


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


class TestAtomicOpen:
    def test_250_character_name(self, tmp_path: Path) -> None:
        """The temp name does not grow with the target name (255 is the usual limit)."""
        target = tmp_path / ("n" * 246 + ".png")
        assert len(target.name) == 250
        atomic_write_text(target, "x")
        assert target.read_text() == "x"
        assert [p.name for p in tmp_path.iterdir()] == [target.name]

    def test_error_leaves_target_and_no_temp(self, tmp_path: Path) -> None:
        """An exception keeps the old file and removes the temp file."""
        target = tmp_path / "out.csv"
        target.write_text("old")
        with pytest.raises(RuntimeError), atomic_open(target) as fh:
            fh.write("new")
            raise RuntimeError("boom")
        assert target.read_text() == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


class TestRemoveStaleTempFiles:
    def test_removes_dead_runs_and_legacy_names_only(self, tmp_path: Path) -> None:
        """Temp files of dead processes and old-style names go; live ones and others stay."""
        dead = tmp_path / f".pv-{dead_pid()}-abc123.tmp"
        live = tmp_path / f".pv-{os.getppid()}-abc123.tmp"
        legacy = tmp_path / ".image.png.k2j4h5g6.tmp"
        keep = [tmp_path / "image.png", tmp_path / ".hidden.tmp", tmp_path / "notes.tmp"]
        for p in [dead, live, legacy, *keep]:
            p.write_text("x")
        assert remove_stale_temp_files(tmp_path) == 2
        assert not dead.exists() and not legacy.exists()
        assert live.exists() and all(p.exists() for p in keep)

    def test_missing_folder(self, tmp_path: Path) -> None:
        """Nothing to clean in a folder that does not exist."""
        assert remove_stale_temp_files(tmp_path / "nope") == 0


class TestCheckOutputFile:
    def test_new_file_in_existing_folder(self, tmp_path: Path) -> None:
        """A new file name in a writable folder passes and nothing is left behind."""
        assert check_output_file(tmp_path / "a.csv") == tmp_path / "a.csv"
        assert list(tmp_path.iterdir()) == []

    def test_folder_is_refused(self, tmp_path: Path) -> None:
        """A folder given as output file."""
        with pytest.raises(OutputError, match="is a folder"):
            check_output_file(tmp_path)

    def test_fifo_is_refused(self, tmp_path: Path) -> None:
        """A FIFO is not a regular file."""
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        with pytest.raises(OutputError, match="not a regular file"):
            check_output_file(fifo)

    def test_missing_folder(self, tmp_path: Path) -> None:
        """A missing parent folder is named."""
        with pytest.raises(OutputError, match="does not exist"):
            check_output_file(tmp_path / "nope" / "a.csv")

    def test_file_as_folder(self, tmp_path: Path) -> None:
        """A regular file in the parent's place."""
        (tmp_path / "f").write_text("x")
        with pytest.raises(OutputError, match="is not a folder"):
            check_output_file(tmp_path / "f" / "a.csv")

    def test_read_only_folder(self, tmp_path: Path) -> None:
        """A folder that cannot be written."""
        folder = read_only_folder(tmp_path)
        with pytest.raises(OutputError, match="not writable"):
            check_output_file(folder / "a.csv")


class TestCheckOutputDir:
    def test_creates_missing_leaf(self, tmp_path: Path) -> None:
        """The folder itself is created when its parent exists."""
        assert check_output_dir(tmp_path / "out").is_dir()

    def test_missing_parent(self, tmp_path: Path) -> None:
        """A missing parent is not created."""
        with pytest.raises(OutputError, match="does not exist"):
            check_output_dir(tmp_path / "a" / "b")
        assert not (tmp_path / "a").exists()

    def test_existing_file(self, tmp_path: Path) -> None:
        """An existing file in the folder's place."""
        (tmp_path / "out").write_text("x")
        with pytest.raises(OutputError, match="not a folder"):
            check_output_dir(tmp_path / "out")

    def test_read_only(self, tmp_path: Path) -> None:
        """A read-only folder."""
        folder = read_only_folder(tmp_path)
        with pytest.raises(OutputError, match="not writable"):
            check_output_dir(folder)
