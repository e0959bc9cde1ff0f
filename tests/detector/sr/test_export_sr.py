"""``pneumoview export SESSION --format sr``: the reviewed result, the same boxes as labels CSV."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from detector import cli
from detector.review import ModelInfo, open_session
from detector.rsna.labels import read_labels
from detector.sr.read import read_sr
from tests.conftest import chest_like


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNEUMOVIEW_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def session(tmp_path: Path, make_dicom) -> tuple[Path, dict[str, str]]:
    """pa: GT (one confirmed by an accepted prediction), an accepted, a rejected and a drawn
    box, reviewed by dr_a; pb: no opacity with an undecided prediction; pc: in progress."""
    uids: dict[str, str] = {}
    path = tmp_path / "s.sqlite"
    ticks = itertools.count(1000)
    state, store = open_session(path, reviewer="dr_a")
    state.clock = lambda: float(next(ticks))
    state.add_model(ModelInfo("m.pt", "", 0.4))
    for name in ("pa", "pb", "pc"):
        file = make_dicom(f"{name}.dcm", chest_like(256), folder=tmp_path / "img")
        uids[name] = pydicom.dcmread(file, stop_before_pixels=True).SOPInstanceUID
        state.add_image(f"{uids[name]}/0", name, path=str(file), sop_instance_uid=uids[name])
    pa, pb, pc = (f"{uids[n]}/0" for n in ("pa", "pb", "pc"))
    gt_a, _gt_b = state.add_ground_truth(pa, [(10, 10, 60, 70), (150, 150, 200, 210)], "l.csv")
    confirming, other, rejected = state.set_predictions(
        pa,
        "m.pt",
        [((12, 11, 61, 70), 0.9), ((100.25, 20.5, 140.75, 60), 0.7), ((0, 200, 20, 220), 0.5)],
    )
    state.accept(confirming.id)
    state.accept(other.id)
    state.reject(rejected.id)
    state.add_box(pa, (30.5, 120.25, 80, 170))
    state.mark_reviewed(pa)
    state.set_predictions(pb, "m.pt", [((5, 5, 25, 25), 0.8)])
    state.mark_no_opacity(pb)
    state.add_box(pc, (0, 0, 10, 10))
    store.close()
    return path, uids


def test_sr_export_equals_labels_export(session, tmp_path: Path, capsys) -> None:
    """Every reviewed image gets an SR with exactly the labels CSV's boxes, sources, reader."""
    path, uids = session
    labels = tmp_path / "labels.csv"
    assert cli.main(["export", str(path), "--out", str(labels)]) == 0
    out = tmp_path / "srs"
    assert cli.main(["export", str(path), "--out", str(out), "--format", "sr"]) == 0
    assert "wrote 2 SR file(s)" in capsys.readouterr().err
    expected: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for pid, boxes in read_labels(labels).boxes.items():
        expected[pid] = sorted(tuple(b) for b in boxes)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{uids[n]}.sr.dcm" for n in ("pa", "pb")
    )
    for name in ("pa", "pb"):
        report = read_sr(out / f"{uids[name]}.sr.dcm")
        assert report.referenced == {uids[name]}
        assert report.reader == "dr_a"
        got = sorted(f.xywh for f in report.findings)
        assert len(got) == len(expected[name])
        for g, e in zip(got, expected[name], strict=True):
            assert g == pytest.approx(e, abs=0.5)
    pa = read_sr(out / f"{uids['pa']}.sr.dcm")
    by_x = {round(f.xywh[0]): (f.source, f.score) for f in pa.findings}
    assert by_x == {
        10: ("ground_truth", pytest.approx(0.9)),  # confirmed by the accepted 0.9 box
        150: ("ground_truth", None),
        100: ("model", pytest.approx(0.7)),
        30: ("reviewer", None),
    }


def test_missing_image_file_is_one_line(session, tmp_path: Path, capsys) -> None:
    """An image whose file is gone is left out with one line; the others are written; exit 1."""
    path, uids = session
    (tmp_path / "img" / "pb.dcm").unlink()
    out = tmp_path / "srs"
    assert cli.main(["export", str(path), "--out", str(out), "--format", "sr"]) == 1
    err = capsys.readouterr().err
    assert "warning: image pb (" in err and "left out" in err
    assert "Traceback" not in err
    assert [p.name for p in out.iterdir()] == [f"{uids['pa']}.sr.dcm"]
