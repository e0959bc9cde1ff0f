"""``pneumoview improve`` end to end on tiny models and reviewed phantoms (CPU)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from detector import cli
from detector.improve.job import ImproveRequest, is_better, run_improve
from detector.improve.progress import CancelToken, ImproveCancelled, ProgressEvent
from detector.model.checkpoint import load_checkpoint
from detector.review.store import open_session
from tests.detector.improve.conftest import reviewed_session


def test_is_better_compares_the_rsna_metric() -> None:
    nan = float("nan")
    assert is_better({"rsna_map": 0.1}, {"rsna_map": 0.2})
    assert not is_better({"rsna_map": 0.2}, {"rsna_map": 0.2})
    assert not is_better({"rsna_map": 0.2}, {"rsna_map": nan})
    assert is_better({"rsna_map": nan}, {"rsna_map": 0.0})


@pytest.mark.slow
def test_not_better_exits_1_and_still_writes_the_version_with_lineage(
    tmp_path: Path, silent_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that stays silent is not better: exit 1, v1 written, marked not better."""
    session = reviewed_session(tmp_path, 24)
    parent_sha = hashlib.sha256(silent_model.read_bytes()).hexdigest()
    report = tmp_path / "report.json"
    rc = cli.main(
        ["improve", str(session), "--model", str(silent_model), "--epochs", "1",
         "--lr", "1e-9", "--device", "cpu", "--report", str(report)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1
    assert "the new model is not better" in out
    assert "RSNA metric    0.0000   0.0000" in out
    version = tmp_path / "read.sqlite.models" / "tiny-v1.pt"
    lineage = json.loads((tmp_path / "read.sqlite.models" / "tiny-v1.json").read_text())
    assert lineage["parent_sha256"] == parent_sha
    assert lineage["parent"] == str(silent_model)
    assert lineage["session"] == str(session)
    assert lineage["better"] is False
    assert len(lineage["held_out"]) == 10 and len(lineage["trained_on"]) == 14
    assert set(lineage["held_out"]).isdisjoint(lineage["trained_on"])
    assert lineage["epochs"] == 1 and lineage["device"] == "cpu"
    assert json.loads(report.read_text())["parent_sha256"] == parent_sha
    _weights, meta = load_checkpoint(version)
    assert meta["lineage"]["parent_sha256"] == parent_sha
    # detect takes the version like any checkpoint
    images = tmp_path / "images"
    rc = cli.main(
        ["detect", str(images), "--model", str(version), "--out", str(tmp_path / "p.csv")]
    )
    assert rc == 0


def test_too_few_reviewed_images_is_one_line(
    tmp_path: Path, silent_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = reviewed_session(tmp_path, 12, reviewed=12)
    rc = cli.main(["improve", str(session), "--model", str(silent_model), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err == (
        "pneumoview improve: error: read.sqlite: 12 usable reviewed image(s); Improve needs at "
        "least 20 (10 to train on and 10 held out to compare the models on): review 8 more\n"
    )
    assert not (tmp_path / "read.sqlite.models" / "tiny-v1.pt").exists()


@pytest.mark.slow
def test_cancel_during_training_leaves_no_checkpoint(tmp_path: Path, silent_model: Path) -> None:
    """Cancelled at the first training step: no .pt under the final name, no work folder."""
    session = reviewed_session(tmp_path, 24)
    out = tmp_path / "out" / "new.pt"
    cancel = CancelToken(tmp_path / "cancel.flag")
    events: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        events.append(event)
        if event.stage == "train":
            (tmp_path / "cancel.flag").touch()  # what the window's Cancel does

    state, store = open_session(session, create=False, read_only=True)
    try:
        with pytest.raises(ImproveCancelled):
            run_improve(
                ImproveRequest(str(session), str(silent_model), str(out), epochs=3, device="cpu"),
                state,
                progress=progress,
                cancel=cancel,
            )
    finally:
        store.close()
    assert [e.stage for e in events][:3] == ["prepare", "score-old", "train"]
    assert events[-1].epoch == 1 and events[-1].batch == 1 and events[-1].eta_s is not None
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_under_torchrun_rank_0_alone_writes_the_version(tmp_path: Path, silent_model: Path) -> None:
    """Two CPU ranks (gloo) train together; one version and one lineage file, no leftovers,
    one result printed, and the checkpoint records a world size of 2."""
    import os
    import subprocess
    import sys

    session = reviewed_session(tmp_path, 24)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "detector.cli", "improve", str(session), "--model", str(silent_model),
         "--epochs", "1", "--lr", "1e-9", "--device", "cpu"],
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # Rank 0 says "not better" (exit 1, as without torchrun); rank 1 exits 0 and is never the
    # one that scored, wrote and stopped first (torchrun then kills rank 0 with SIGTERM).
    assert proc.stdout.count("the new model is not better") == 1, proc.stderr[-2000:]
    assert "SIGTERM" not in proc.stderr, proc.stderr[-2000:]
    assert "rank      : 1 (local_rank: 1)" not in proc.stderr, proc.stderr[-2000:]
    models = tmp_path / "read.sqlite.models"
    assert sorted(p.name for p in models.iterdir()) == ["tiny-v1.json", "tiny-v1.pt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".improve-")]
    _weights, meta = load_checkpoint(models / "tiny-v1.pt")
    assert meta["training"]["world_size"] == 2
