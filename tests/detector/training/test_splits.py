"""Patient-level splits: hold-out, K-fold, the split file."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.files.image_files import DatasetError
from detector.synth.phantoms import synthesize
from detector.training.records import ImageRecord, load_records
from detector.training.splits import (
    apply_split,
    kfold_records,
    read_split,
    split_records,
    write_split,
)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty 96 px phantoms (half positive) with their labels."""
    folder = tmp_path_factory.mktemp("phantoms")
    synthesize(folder, 20, size=96, seed=4)
    return folder


def _records(n_patients: int, images_per_patient: int = 1) -> list[ImageRecord]:
    out = []
    for p in range(n_patients):
        for i in range(images_per_patient):
            boxes = [(1.0, 1.0, 5.0, 5.0)] if p % 3 == 0 else []
            out.append(ImageRecord(f"img{p}-{i}", f"/x/{p}-{i}.dcm", boxes, 64, 64, f"pat{p}"))
    return out


class TestSplitRecords:
    def test_never_puts_a_patient_in_both_sets(self) -> None:
        """Images of one patient all land in the same set."""
        records = _records(30, images_per_patient=3)
        for seed in range(5):
            train, val = split_records(records, 0.2, seed)
            assert not {r.group for r in train} & {r.group for r in val}
            assert len(train) + len(val) == len(records)
            assert len(val) == 6 * 3

    def test_is_stratified_and_seeded(self) -> None:
        """Positives and negatives are split in proportion; the seed fixes the split."""
        records = _records(30)  # 10 positive, 20 negative patients
        train, val = split_records(records, 0.2, seed=1)
        assert sum(r.positive for r in val) == 2 and len(val) == 6
        again, _ = split_records(records, 0.2, seed=1)
        other, _ = split_records(records, 0.2, seed=2)
        assert [r.image_id for r in again] == [r.image_id for r in train]
        assert [r.image_id for r in other] != [r.image_id for r in train]

    def test_tiny_set_still_gets_a_validation_image(self) -> None:
        """With too few patients for the fraction, one patient still goes to validation."""
        train, val = split_records(_records(3), 0.1, seed=0)
        assert len(val) == 1 and len(train) == 2

    def test_zero_fraction(self) -> None:
        """val_fraction 0 keeps everything for training."""
        train, val = split_records(_records(5), 0.0, seed=0)
        assert len(train) == 5 and val == []

    def test_bad_fraction(self) -> None:
        """A fraction of 1 or more is refused."""
        with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
            split_records(_records(5), 1.0, seed=0)


class TestWriteSplit:
    def test_round_trip(self, tmp_path: Path) -> None:
        """A saved split is read back and re-applied exactly."""
        records = _records(10)
        train, val = split_records(records, 0.3, seed=0)
        write_split(tmp_path / "s.csv", train, val)
        assignment = read_split(tmp_path / "s.csv")
        train2, val2 = apply_split(records, assignment)
        assert [r.image_id for r in train2] == [r.image_id for r in train]
        assert [r.image_id for r in val2] == [r.image_id for r in val]

    def test_formula_ids_are_neutralised_and_read_back(self, tmp_path: Path) -> None:
        """Image ids that start a spreadsheet formula get a quote and read back whole (21.4)."""
        bad = ImageRecord("=1+2", "/x/a.dcm", [], 64, 64, "@pat")
        ok = ImageRecord("plain", "/x/b.dcm", [], 64, 64, "-g")
        write_split(tmp_path / "s.csv", [bad], [ok])
        assert (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines() == [
            "patientId,group,split,positive",
            "'=1+2,'@pat,train,0",
            "plain,'-g,val,0",
        ]
        assert read_split(tmp_path / "s.csv") == {"=1+2": "train", "plain": "val"}

    def test_bad_split_file(self, tmp_path: Path) -> None:
        """A malformed split file names the line."""
        (tmp_path / "s.csv").write_text("patientId,group,split,positive\na,a,test,0\n")
        with pytest.raises(DatasetError, match="s.csv: line 2: not a split row"):
            read_split(tmp_path / "s.csv")


class TestKfoldRecords:
    def test_folds_are_disjoint_cover_everything_and_keep_positives(self, phantoms: Path) -> None:
        """On 20 phantoms every fold is disjoint from its training set and holds its share."""
        records, _ = load_records(phantoms, phantoms / "labels.csv")
        ids = {r.image_id for r in records}
        positives = {r.image_id for r in records if r.positive}
        seen: list[str] = []
        for fold in range(4):
            train_recs, val_recs = kfold_records(records, 4, fold, seed=7)
            val = {r.image_id for r in val_recs}
            assert val.isdisjoint({r.image_id for r in train_recs})
            assert {r.image_id for r in train_recs} | val == ids
            # Positives are dealt round-robin: each fold gets its share, within one.
            assert abs(len(val & positives) - len(positives) / 4) <= 1
            seen += list(val)
        assert sorted(seen) == sorted(ids)  # every image validated exactly once
        with pytest.raises(ValueError):
            kfold_records(records, 4, 4, seed=7)

    def test_worked_example(self) -> None:
        """Three folds of three negative and three positive patients, seed 7, dealt by hand.

        Strata go in class order: Normal (n0, n1, n2), then Lung Opacity (p0, p1, p2; p1 has two
        images). ``numpy.random.default_rng(7)`` permutes the first stratum as [0, 2, 1] and the
        second as [1, 2, 0]. Dealing round-robin: n0 -> fold 0, n2 -> 1, n1 -> 2; the deal goes on
        at position 3, so p1 -> fold 0, p2 -> 1, p0 -> 2. Both images of p1 stay together.
        """
        records = [
            _record("n0", "n0", False, "Normal"),
            _record("n1", "n1", False, "Normal"),
            _record("n2", "n2", False, "Normal"),
            _record("p0", "p0", True, "Lung Opacity"),
            _record("p1a", "p1", True, "Lung Opacity"),
            _record("p1b", "p1", True, "Lung Opacity"),
            _record("p2", "p2", True, "Lung Opacity"),
        ]
        expected_val = {0: ["n0", "p1a", "p1b"], 1: ["n2", "p2"], 2: ["n1", "p0"]}
        for fold, val_ids in expected_val.items():
            train_recs, val_recs = kfold_records(records, 3, fold, seed=7)
            assert [r.image_id for r in val_recs] == val_ids
            assert [r.image_id for r in train_recs] == [
                r.image_id for r in records if r.image_id not in val_ids
            ]


def _record(image_id: str, group: str, positive: bool, klass: str) -> ImageRecord:
    boxes = [(10.0, 10.0, 20.0, 20.0)] if positive else []
    return ImageRecord(image_id, f"{image_id}.dcm", boxes, 100, 100, group, klass)
