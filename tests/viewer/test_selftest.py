"""``pneumoview --selftest``: one line per check, a summary line, exit 0 only when all pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.selftest import CheckFailed, check_decode, check_review_core, write_codec_samples

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(PASS [^:]+|FAIL [^:]+: .+)$")


@pytest.mark.slow
def test_selftest_from_source_passes(tmp_path):
    """`python main.py --selftest` runs every check offscreen and they all pass."""
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # the self-test picks offscreen by itself
    env.pop("DISPLAY", None)
    env.update(HOME=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "main.py", "--selftest"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    checks, summary = lines[:-1], lines[-1]
    assert all(LINE.match(line) for line in checks), proc.stdout
    names = [line.split(" (")[0].split(":")[0][5:] for line in checks]
    for expected in (
        "decode uncompressed",
        "decode RLE",
        "decode JPEG Baseline",
        "decode JPEG Baseline with libjpeg-turbo",
        "decode JPEG Extended 12-bit",
        "decode JPEG Lossless",
        "decode JPEG-LS",
        "decode JPEG 2000",
        "model real",
        "model demo",
        "review core",
        "window",
    ):
        assert expected in names
    assert summary == f"{len(checks)} passed, 0 failed", proc.stdout + proc.stderr
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr


class TestCheckDecode:
    def test_every_written_syntax_decodes(self, tmp_path):
        """Each generated file renders, lossless ones bit-exact."""
        samples = write_codec_samples(tmp_path)
        assert set(samples) == {
            "uncompressed",
            "RLE",
            "JPEG Baseline",
            "JPEG Lossless",
            "JPEG 2000",
        }
        for path, expected in samples.values():
            assert "96x96" in check_decode(path, expected)

    def test_damaged_file_fails_with_one_line(self, tmp_path):
        """A truncated file is a FAIL with the decoder's one-line reason, not a traceback."""
        path, expected = write_codec_samples(tmp_path)["JPEG 2000"]
        path.write_bytes(path.read_bytes()[:-200])
        with pytest.raises(CheckFailed) as info, pytest.warns(UserWarning, match="End of file"):
            check_decode(path, expected)
        assert "\n" not in str(info.value)

    def test_lossless_mismatch_fails(self, tmp_path):
        """Pixels that differ from the encoded ones fail the check."""
        path, expected = write_codec_samples(tmp_path)["RLE"]
        assert expected is not None
        with pytest.raises(CheckFailed, match="differ"):
            check_decode(path, np.zeros_like(expected))


def test_review_core_exports_and_reopens(tmp_path):
    """The review check writes a labels CSV with the drawn box and a reopenable session."""
    assert "1 row(s)" in check_review_core(tmp_path)
    assert (tmp_path / "labels.csv").read_text().splitlines()[1] == "selftest-patient,10,20,50,80,1"


def test_broken_install_fails_with_one_line_per_check(tmp_path, monkeypatch, qapp):
    """A frozen build whose real checkpoint is corrupt and whose demo checkpoint is missing:
    each model check is one FAIL line, the other checks still run, the summary counts the
    failures and the exit code is 1."""
    from io import StringIO

    from viewer.selftest import run_selftest

    models = tmp_path / "bundle" / "resources" / "models"
    models.mkdir(parents=True)
    (models / "real.pt").write_bytes(b"this is not a PyTorch checkpoint")
    # The shipped files are looked up under sys._MEIPASS in a frozen build.
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bundle"), raising=False)
    for name in ("CONFIG", "CACHE", "DATA"):  # run_selftest points these at its temp folder
        monkeypatch.setenv(f"PNEUMOVIEW_{name}_DIR", str(tmp_path / name.lower()))
    out = StringIO()

    code = run_selftest(out)

    lines = out.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines[:-1]), out.getvalue()
    by_name = {line[5:].split(" (")[0].split(":")[0]: line for line in lines[:-1]}
    assert by_name["model demo"] == f"FAIL model demo: {models / 'demo.pt'}: not found"
    assert by_name["model real"] == (
        "FAIL model real: CheckpointError: real.pt: not a checkpoint (not a PyTorch file)"
    )
    # The window check loads the missing demo model through the GUI's worker.
    assert by_name["window"].startswith("FAIL window: detection failed: demo.pt")
    for passing in ("decode uncompressed", "decode RLE", "demo study", "review core"):
        assert by_name[passing].startswith(f"PASS {passing}"), out.getvalue()
    failed = sum(line.startswith("FAIL ") for line in lines[:-1])
    assert failed == 3
    assert lines[-1] == f"{len(lines) - 1 - failed} passed, 3 failed"
    assert code == 1
