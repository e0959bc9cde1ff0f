"""Writing SRs prints nothing but the command's own lines (a reader scans that output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from detector.imaging.dicom_write import new_image_dataset, save_dataset
from tests.conftest import chest_like
from tests.detector.test_detect_command import tiny_checkpoint  # noqa: F401 -- fixture

ROOT = Path(__file__).resolve().parents[3]


def test_detect_format_sr_prints_one_summary_line(tmp_path: Path, tiny_checkpoint) -> None:  # noqa: F811
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        ds = new_image_dataset(chest_like(64, seed=i), Modality="CR")
        # An RSNA-style name: an id where a person's name belongs (highdicom warns about it).
        ds.PatientName = f"01be392f-a46d-4aef-a57e-9cd1a80dd47{i}"
        save_dataset(ds, folder / f"img{i}.dcm")
    # The real command in its own process: its log handler and warnings go to its stderr.
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "detect", str(folder), "--model",
         str(tiny_checkpoint), "--format", "sr", "--out", str(tmp_path / "sr"), "--threshold", "0",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, err
    assert len(list((tmp_path / "sr").glob("*.dcm"))) == 2
    assert "copy attributes" not in err and "copy attributes" not in out
    assert "person name" not in err
    assert err.count("\n") <= 6, err  # model and card lines + the summary; not lines per SR
