"""Review-core benchmarks (issue 8): edit write-through, export, labels import.

Run: ``.venv/bin/python bench/bench_review.py [--runs 7]``. Prints a Markdown table for
docs/PERFORMANCE.md. Baselines are measured in the same run:

* one edit written through (``ReviewState.move`` on a session file: one WAL transaction with
  ``synchronous=FULL``) vs. a bare ``sqlite3`` ``INSERT`` + ``COMMIT`` with the same settings;
* export of a 30,000-row review (labels and audit) vs. the plain ``csv`` module writing the
  same rows;
* import of a generated 30,227-row RSNA labels CSV (the size of ``stage_2_train_labels.csv``:
  26,684 patients, 9,555 boxes) into a session with every image open, vs. the plain ``csv``
  module reading it.
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, median_seconds  # noqa: E402
from detector.review import ReviewState, open_session  # noqa: E402
from detector.review.export import export_review  # noqa: E402
from detector.review.importing import import_labels  # noqa: E402

RSNA_PATIENTS = 26_684
RSNA_POSITIVE = 6_012  # patients with boxes; 30,227 rows in all
RSNA_ROWS = 30_227


def make_labels(path: Path, seed: int = 0) -> list[str]:
    """An RSNA-sized labels CSV: 26,684 patients, 30,227 rows; returns the patientIds."""
    rng = random.Random(seed)
    pids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(RSNA_PATIENTS)]
    extra = RSNA_ROWS - RSNA_PATIENTS  # additional boxes beyond one per positive patient
    counts = [1] * RSNA_POSITIVE
    for _ in range(extra):
        counts[rng.randrange(RSNA_POSITIVE)] += 1
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patientId", "x", "y", "width", "height", "Target"])
        for i, pid in enumerate(pids):
            if i < RSNA_POSITIVE:
                for _ in range(counts[i]):
                    x, y = rng.randint(0, 700), rng.randint(0, 700)
                    w.writerow([pid, x, y, rng.randint(40, 300), rng.randint(40, 300), 1])
            else:
                w.writerow([pid, "", "", "", "", 0])
    return pids


def bench_edit(tmp: Path, runs: int) -> tuple[float, float]:
    """Median ms of one written-through edit, and of a bare sqlite insert+commit."""
    state, store = open_session(tmp / "edit.sqlite", reviewer="bench")
    state.add_image("1/0", "p")
    box = state.add_box("1/0", (10, 10, 50, 50))
    i = [0]

    def edit() -> None:
        i[0] += 1
        state.move(box.id, (10 + i[0] % 7, 10, 60, 60))

    ours = median_seconds(edit, runs * 20, warmup=3) * 1000
    store.close()

    db = sqlite3.connect(tmp / "bare.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, x0 REAL, y0 REAL, x1 REAL, y1 REAL)")

    def bare() -> None:
        i[0] += 1
        with db:
            db.execute("INSERT OR REPLACE INTO t VALUES ('a', ?, 10, 60, 60)", (i[0] % 7,))

    base = median_seconds(bare, runs * 20, warmup=3) * 1000
    db.close()
    return ours, base


def review_30k() -> ReviewState:
    """A review of 20,000 images with 30,000 label rows (boxes + Target=0 rows), no store."""
    rng = random.Random(1)
    state = ReviewState(reviewer="bench")
    n_images = 20_000
    keys = []
    for i in range(n_images):
        key = f"1.2.{i}/0"
        state.add_image(key, f"patient-{i:05d}", path=f"/study/patient-{i:05d}.dcm")
        keys.append(key)
    truth: dict[str, list[tuple[float, float, float, float]]] = {}
    # 7,000 positive images with 2-3 boxes = 17,000 boxes; the 13,000 others give Target=0 rows.
    for key in keys[:7000]:
        truth[key] = []
        for _ in range(2 + (rng.random() < 3 / 7)):
            x, y = rng.uniform(0, 700), rng.uniform(0, 700)
            truth[key].append((x, y, x + rng.uniform(40, 300), y + rng.uniform(40, 300)))
    state.import_ground_truth(truth, "labels.csv")
    for key in keys:
        state.set_image_status(key, "reviewed")
    return state


def bench_export(tmp: Path, runs: int) -> tuple[float, float, float, int]:
    state = review_30k()
    out = tmp / "labels.csv"
    rows = export_review(state, out, "labels")
    ours = median_seconds(lambda: export_review(state, out, "labels"), runs)
    audit = median_seconds(lambda: export_review(state, tmp / "audit.csv", "audit"), runs)
    with open(out, encoding="utf-8", newline="") as fh:
        data = list(csv.reader(fh))

    def plain() -> None:
        with open(tmp / "plain.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(data)

    base = median_seconds(plain, runs)
    return ours, audit, base, rows


def bench_import(tmp: Path, runs: int) -> tuple[float, float, float]:
    labels = tmp / "rsna_labels.csv"
    pids = make_labels(labels)

    def ours_all_open() -> None:
        state, store = open_session(tmp / f"imp-{time.perf_counter_ns()}.sqlite")
        for i, pid in enumerate(pids):
            state.add_image(f"9.{i}/0", pid)
        t0 = time.perf_counter()
        import_labels(state, labels)
        timings.append(time.perf_counter() - t0)
        store.close()

    def ours_none_open() -> None:
        state, store = open_session(tmp / f"none-{time.perf_counter_ns()}.sqlite")
        t0 = time.perf_counter()
        import_labels(state, labels)
        timings_none.append(time.perf_counter() - t0)
        store.close()

    timings: list[float] = []
    timings_none: list[float] = []
    for _ in range(runs):
        ours_all_open()
        ours_none_open()

    def plain() -> None:
        with open(labels, encoding="utf-8", newline="") as fh:
            list(csv.reader(fh))

    base = median_seconds(plain, runs)
    timings.sort()
    timings_none.sort()
    return timings[len(timings) // 2], timings_none[len(timings_none) // 2], base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        edit, bare = bench_edit(tmp, args.runs)
        export, audit, plain_write, rows = bench_export(tmp, args.runs)
        imp_all, imp_none, plain_read = bench_import(tmp, args.runs)
    print(machine_line())
    print(f"sqlite {sqlite3.sqlite_version}; temp folder {tempfile.gettempdir()}")
    print()
    print("| measurement | baseline | PneumoView | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| one edit written through (move a box) | {bare:.2f} ms (bare sqlite insert+commit) "
        f"| {edit:.2f} ms | {edit / bare:.2f}x | <= 5 ms |"
    )
    print(
        f"| export labels, {rows:,} rows | {plain_write * 1000:.0f} ms (csv.writer, same rows) "
        f"| {export * 1000:.0f} ms | {export / plain_write:.2f}x | <= 1 s |"
    )
    print(
        f"| export audit, same review | {plain_write * 1000:.0f} ms (csv.writer, labels rows) "
        f"| {audit * 1000:.0f} ms | {audit / plain_write:.2f}x | <= 1 s |"
    )
    print(
        f"| import {RSNA_ROWS:,}-row labels CSV, all {RSNA_PATIENTS:,} images open "
        f"| {plain_read * 1000:.0f} ms (csv.reader) | {imp_all * 1000:.0f} ms "
        f"| {imp_all / plain_read:.1f}x | <= 1 s |"
    )
    print(
        f"| import the same CSV, no image open (all kept) | {plain_read * 1000:.0f} ms "
        f"(csv.reader) | {imp_none * 1000:.0f} ms | {imp_none / plain_read:.1f}x | <= 1 s |"
    )


if __name__ == "__main__":
    main()
