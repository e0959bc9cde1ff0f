"""bench/split_labels.py writes the training side of a split and nothing of the other side: the
inner models of `make real-model-nested` must never see the outer held-out images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LABELS = """patientId,x,y,width,height,Target
a,,,,,0
b,10,20,30,40,1
b,100,120,50,60,1
c,5.5,6,7,8.25,1
d,,,,,0
e,1,2,3,4,1
"""

SPLIT = """patientId,group,split,positive
a,a,train,0
b,b,train,1
c,c,val,1
d,d,val,0
"""


def _run(tmp_path: Path, *extra: str, split: str = SPLIT) -> subprocess.CompletedProcess[str]:
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "split.csv").write_text(split)
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "split_labels.py"), "--labels",
         str(tmp_path / "labels.csv"), "--split", str(tmp_path / "split.csv"), *extra],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_train_rows_keep_every_box_and_drop_the_rest(tmp_path):
    done = _run(tmp_path, "--out", "train.csv")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "train.csv").read_text().splitlines() == [
        "patientId,x,y,width,height,Target",
        "a,,,,,0",
        "b,10,20,30,40,1",
        "b,100,120,50,60,1",
    ]
    # e is in the labels but not in the split: left out, and said.
    assert "2 images (1 positive, 3 rows) of 5; 1 not in the split" in done.stdout


def test_val_rows(tmp_path):
    done = _run(tmp_path, "--rows", "val", "--out", "val.csv")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "val.csv").read_text().splitlines()[1:] == ["c,5.5,6,7,8.25,1", "d,,,,,0"]


def test_a_split_of_other_images_is_refused_without_writing(tmp_path):
    other = "patientId,group,split,positive\nz,z,train,0\n"
    done = _run(tmp_path, "--out", "out.csv", split=other)
    assert done.returncode == 1
    assert "no train row names an image of" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_broken_split_file_gets_one_line(tmp_path):
    done = _run(tmp_path, "--out", "out.csv", split="patientId,split\na,maybe\n")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "split.csv" in done.stderr, done.stderr
    assert not (tmp_path / "out.csv").exists()
