"""``pneumoview export --format gsps``: a round trip export -> read, and bad images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest

from detector import cli
from detector.gsps.read import read_gsps
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.review import ModelInfo, open_session


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNEUMOVIEW_DATA_DIR", str(tmp_path / "data"))


def image_file(tmp_path: Path, name: str, **attributes: object) -> tuple[Path, str]:
    ds = new_image_dataset(np.zeros((128, 160), np.uint16), **attributes)
    path = tmp_path / name
    save_dataset(ds, path)
    return path, str(ds.SOPInstanceUID)


def reviewed_session(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """pa: ground truth, an accepted and a rejected prediction, a drawn box; pb: no opacity;
    pc: reviewed but its file is gone; pd: not reviewed."""
    pa, uid_a = image_file(tmp_path, "pa.dcm", WindowCenter=300, WindowWidth=600)
    pb, uid_b = image_file(tmp_path, "pb.dcm")
    session = tmp_path / "s.sqlite"
    state, store = open_session(session, reviewer="dr_a")
    state.add_image(f"{uid_a}/0", "pa", path=str(pa), sop_instance_uid=uid_a)
    state.add_image(f"{uid_b}/0", "pb", path=str(pb), sop_instance_uid=uid_b)
    state.add_image("9.9/0", "pc", path=str(tmp_path / "gone.dcm"), sop_instance_uid="9.9")
    state.add_image("9.8/0", "pd", path=str(pa), sop_instance_uid="9.8")
    state.add_model(ModelInfo("demo", "/m/demo.pt", 0.4))
    state.add_ground_truth(f"{uid_a}/0", [(10, 10, 40, 50)], "labels.csv")
    acc, rej = state.set_predictions(
        f"{uid_a}/0", "demo", [((100, 60, 130.5, 90.25), 0.91), ((0, 0, 5, 5), 0.45)]
    )
    state.accept(acc.id)
    state.reject(rej.id)
    state.add_box(f"{uid_a}/0", (2.5, 70, 20, 100))
    state.mark_reviewed(f"{uid_a}/0")
    state.mark_no_opacity(f"{uid_b}/0")
    state.add_box("9.9/0", (1, 1, 9, 9))
    state.mark_reviewed("9.9/0")
    state.add_box("9.8/0", (1, 1, 9, 9))  # in progress: no state
    store.close()
    return session, {"pa": uid_a, "pb": uid_b}, pa


def polyline_box(points: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert points[0] == points[-1]  # closed
    return (min(xs), min(ys), max(xs), max(ys))


class TestExportGsps:
    def test_round_trip(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The states hold the labels CSV's boxes, reference their images and carry their
        windows; a missing image is named and the others are written."""
        session, uids, _pa = reviewed_session(tmp_path)
        out = tmp_path / "gsps"
        assert cli.main(["export", str(session), "--out", str(out), "--format", "gsps"]) == 1
        err = capsys.readouterr().err
        assert "pc (" in err and "gone.dcm" in err and "no GSPS written" in err
        assert "wrote 2 presentation state(s)" in err
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f"GSPS_{uids['pa']}.dcm", f"GSPS_{uids['pb']}.dcm"]
        )
        labels = tmp_path / "labels.csv"
        assert cli.main(["export", str(session), "--out", str(labels)]) == 0
        rows = [r for r in csv.DictReader(labels.open()) if r["patientId"] == "pa"]
        expected = sorted(
            (
                float(r["x"]),
                float(r["y"]),
                float(r["x"]) + float(r["width"]),
                float(r["y"]) + float(r["height"]),
            )
            for r in rows
        )
        assert expected == [
            (2.5, 70.0, 20.0, 100.0),
            (10.0, 10.0, 40.0, 50.0),
            (100.0, 60.0, 130.5, 90.25),
        ]

        state = read_gsps(out / f"GSPS_{uids['pa']}.dcm")
        assert [r.sop_instance_uid for r in state.refs] == [uids["pa"]]
        (note,) = state.annotations_for(uids["pa"])
        assert note.layer == "PNEUMOVIEW"
        assert sorted(polyline_box(g.points) for g in note.graphics) == expected
        assert sorted(t.text for t in note.texts) == ["ground truth", "model 0.91", "reader"]
        voi = state.voi_for(uids["pa"])
        assert voi is not None and voi.window is not None
        assert (voi.window.center, voi.window.width) == (300.0, 600.0)

        empty = read_gsps(out / f"GSPS_{uids['pb']}.dcm")
        assert empty.annotations == ()
        assert [r.sop_instance_uid for r in empty.refs] == [uids["pb"]]
        ds = pydicom.dcmread(out / f"GSPS_{uids['pb']}.dcm")
        assert ds.Modality == "PR"

    def test_a_replaced_file_is_left_out(self, tmp_path: Path, capsys) -> None:
        session, uids, pa = reviewed_session(tmp_path)
        image_file(tmp_path, "pa.dcm")  # another image under the same name
        out = tmp_path / "gsps"
        assert cli.main(["export", str(session), "--out", str(out), "--format", "gsps"]) == 1
        assert "the file now holds another image" in capsys.readouterr().err
        assert not (out / f"GSPS_{uids['pa']}.dcm").exists()
        assert (out / f"GSPS_{uids['pb']}.dcm").exists()

    def test_output_that_is_a_file_is_a_usage_error(self, tmp_path: Path, capsys) -> None:
        session, _uids, _pa = reviewed_session(tmp_path)
        target = tmp_path / "taken"
        target.write_text("mine")
        assert cli.main(["export", str(session), "--out", str(target), "--format", "gsps"]) == 2
        assert "exists and is not a folder" in capsys.readouterr().err
        assert target.read_text() == "mine"
