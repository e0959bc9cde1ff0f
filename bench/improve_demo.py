"""Issue 19's "done when", measured: Improve turns a weak model into a better one on fresh phantoms.

Steps, each a real ``pneumoview`` command (``detector.cli.main``) except the session, which is
built the way the window builds it (images added, ground truth imported, each image marked
reviewed) through :mod:`detector.review`:

1. ``synth --seed W``: a few phantoms; ``train`` one short epoch on them: the *weak* model
   (RetinaNet MobileNetV3 at ``--size`` px, from scratch);
2. ``synth --seed A``: the phantoms "read" in the session (``--reviewed``, default 60);
3. ``improve SESSION --model weak.pt``: the improved version (its own holdout decides "better");
4. ``synth --seed B``: FRESH phantoms, never used in training or in the holdout; ``detect`` with
   both models (each with its own stored setting) and ``eval`` against B's labels.

Prints each step's time, the holdout numbers and both models' RSNA metric on the fresh phantoms;
exit 0 when the improved model beats the weak one there.

Usage::

    python bench/improve_demo.py [--reviewed 60] [--fresh 60] [--epochs 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line  # noqa: E402


@dataclass
class Done:
    """What one command returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def pneumoview(*args: str) -> Done:
    """Run ``pneumoview ARGS`` (``detector.cli.main``, in this process: on a loaded machine
    starting Python and torch for every command costs minutes); a failure stops the demo."""
    from detector import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(list(args))
    done = Done(rc, out.getvalue(), err.getvalue())
    if rc not in (0, 1) or (rc == 1 and args[0] != "improve"):
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"pneumoview {args[0]} failed (exit {rc})")
    return done


def reviewed_session(images: Path, session: Path) -> int:
    """A session like the window's: every image added, ground truth imported, each reviewed."""
    from detector.files.identity import identify
    from detector.review.importing import import_labels
    from detector.review.store import open_session

    state, store = open_session(session, reviewer="demo")
    try:
        state.add_images(identify(str(p)) for p in sorted(images.glob("*.dcm")))
        import_labels(state, images / "labels.csv")
        for key in list(state.images):
            state.mark_reviewed(key)
        return len(state.images)
    finally:
        store.close()


def rsna_on(model: Path, fresh: Path, work: Path) -> dict[str, float]:
    """``detect`` with ``model``'s own setting on the fresh phantoms, then ``eval``."""
    pred = work / f"{model.stem}.fresh.csv"
    pneumoview("detect", str(fresh), "--model", str(model), "--out", str(pred), "--device", "cpu")
    done = pneumoview(
        "eval", "--truth", str(fresh / "labels.csv"), "--pred", str(pred), "--all-truth", "--json"
    )
    result = json.loads(done.stdout)
    keys = ("rsna_map", "map50", "sensitivity", "specificity")
    return {k: float("nan") if result.get(k) is None else float(result[k]) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reviewed", type=int, default=60, help="phantoms read in the session")
    parser.add_argument("--fresh", type=int, default=60, help="fresh phantoms scored")
    parser.add_argument("--weak-images", type=int, default=8, help="phantoms the weak model saw")
    parser.add_argument("--image-size", type=int, default=256, help="phantom DICOM size")
    parser.add_argument("--size", type=int, default=128, help="model input size")
    parser.add_argument("--epochs", type=int, default=8, help="improve --epochs")
    parser.add_argument("--lr", type=float, default=None, help="improve --lr (default: its own)")
    parser.add_argument("--seeds", default="11,12,13", help="W,A,B synth seeds")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    seed_w, seed_a, seed_b = (s.strip() for s in args.seeds.split(","))
    if len({seed_w, seed_a, seed_b}) != 3:
        parser.error("--seeds: three different seeds")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        times: dict[str, float] = {}

        def step(name: str, *cmd: str) -> Done:
            t0 = time.perf_counter()
            done = pneumoview(*cmd)
            times[name] = time.perf_counter() - t0
            return done

        size = str(args.image_size)
        weak_dir, read_dir, fresh_dir = work / "weak", work / "read", work / "fresh"
        for folder, seed, count in (
            (weak_dir, seed_w, args.weak_images),
            (read_dir, seed_a, args.reviewed),
            (fresh_dir, seed_b, args.fresh),
        ):
            step(f"synth {seed}", "synth", "--out", str(folder), "--count", str(count),
                 "--size", size, "--seed", seed, "--quiet")  # fmt: skip
        weak = work / "weak.pt"
        step("train weak", "train", "--images", str(weak_dir), "--labels",
             str(weak_dir / "labels.csv"), "--out", str(weak), "--backbone", "mobilenet_v3",
             "--size", str(args.size), "--epochs", "1", "--batch-size", "4",
             "--val-fraction", "0.25", "--device", "cpu", "--workers", "0", "--quiet")  # fmt: skip
        session = work / "read.sqlite"
        t0 = time.perf_counter()
        count = reviewed_session(read_dir, session)
        times["session"] = time.perf_counter() - t0
        improved = work / "improved.pt"
        lr = ["--lr", str(args.lr)] if args.lr else []
        done = step("improve", "improve", str(session), "--model", str(weak), "--out",
                    str(improved), "--epochs", str(args.epochs), "--device", "cpu", *lr)  # fmt: skip
        print(f"pneumoview improve on {count} reviewed phantoms (exit {done.returncode}):")
        print(done.stdout.rstrip())
        t0 = time.perf_counter()
        before = rsna_on(weak, fresh_dir, work)
        after = rsna_on(improved, fresh_dir, work)
        times["detect+eval x2"] = time.perf_counter() - t0
        print(f"\nfresh phantoms (synth --seed {seed_b}, {args.fresh} images, never trained on):")
        for key in ("rsna_map", "map50", "sensitivity", "specificity"):
            print(f"  {key:<12} weak {before.get(key, float('nan')):.4f}   "
                  f"improved {after.get(key, float('nan')):.4f}")  # fmt: skip
        print("\ntimes: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
        print(f"total {sum(times.values()):.0f} s")
        better = after["rsna_map"] > before["rsna_map"]
        print(
            "the improved model is " + ("BETTER" if better else "NOT better") + " on fresh phantoms"
        )
        return 0 if better and done.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
