"""Grey JPEG Baseline: libjpeg-turbo (simplejpeg) against pydicom's default decoder, same run.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_jpeg_decode.py [--runs 7] [--real DIR]``.
Prints a Markdown table for docs/PERFORMANCE.md.

Rows, each with the baseline measured in the same run (the decoder pydicom picks by itself,
pylibjpeg-libjpeg: what :func:`detector.imaging.decode.load_image` used before):

- the decode alone of one frame (1024 px and 2048 px generated radiographs);
- ``load_image`` (read + decode) and ``prepare_source`` at 256 px (read, decode, window, resize:
  what a ``detect`` worker does per image);
- images/s of ``prepare_source`` over a folder with ``--workers`` processes (``--real DIR``: the
  first ``--count`` DICOMs of a real folder, e.g. rsna-real-512/images; else generated ones).

The script also checks that both decoders give pixels within one grey level of each other.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.pixels import pixel_array

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import chest_field, machine_line, median_seconds, print_table  # noqa: E402
from detector.imaging import decode as decode_module  # noqa: E402
from detector.imaging.decode import load_image  # noqa: E402
from detector.imaging.dicom_write import (  # noqa: E402
    compress_jpeg_baseline,
    new_image_dataset,
    save_dataset,
)
from detector.imaging.jpeg_baseline import decode_grey_baseline  # noqa: E402
from detector.model.sources import prepare_source  # noqa: E402

INPUT = 256


def _use_turbo(on: bool) -> None:
    """Baseline switch for this process: off sends every frame to pydicom's decoders."""
    from detector.imaging import jpeg_baseline

    decode_module.is_grey_baseline = jpeg_baseline.is_grey_baseline if on else (lambda ds: False)  # type: ignore[assignment]


def _pixels(path: str) -> np.ndarray:
    return pixel_array(dcmread(path))


def _prepare_all(args: tuple[list[str], bool]) -> int:
    paths, turbo = args
    _use_turbo(turbo)
    done = 0
    for path in paths:
        done += prepare_source(path, Path(path).stem, input_size=INPUT).gray is not None
    return done


def _throughput(paths: list[str], workers: int, turbo: bool, runs: int) -> float:
    chunks = [paths[i::workers] for i in range(workers)]
    rates = []
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_prepare_all, [(c[:2], turbo) for c in chunks]))  # warm the workers
        for _ in range(runs):
            start = time.perf_counter()
            done = sum(pool.map(_prepare_all, [(c, turbo) for c in chunks]))
            rates.append(done / (time.perf_counter() - start))
    return float(np.median(rates))


def _row(name: str, fn: Callable[[], object], runs: int) -> list[str]:
    _use_turbo(False)
    base = median_seconds(fn, runs)
    _use_turbo(True)
    new = median_seconds(fn, runs)
    return [name, f"{new * 1e3:.1f} ms", f"{base * 1e3:.1f} ms", f"{base / new:.1f}x faster"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--real", type=Path, help="a folder of real JPEG Baseline DICOMs")
    parser.add_argument("--count", type=int, default=200, help="images for the images/s rows")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generated = []
        for side in (1024, 2048):
            field = (chest_field((side, side), seed=side) * 255).astype(np.uint8)
            path = str(Path(tmp) / f"cxr{side}.dcm")
            save_dataset(compress_jpeg_baseline(new_image_dataset(field)), path)
            generated.append(path)
            _use_turbo(True)
            turbo = load_image(path).stored.astype(int)
            base = _pixels(path).astype(int)
            assert np.abs(turbo - base).max() <= 1, "decoders differ by more than one grey level"
            ds = dcmread(path)
            base_s = median_seconds(lambda ds=ds: pixel_array(ds), args.runs)
            new_s = median_seconds(lambda ds=ds: decode_grey_baseline(ds, 0, 1), args.runs)
            rows.append(
                [
                    f"{side}x{side} decode alone (one frame of a read dataset)",
                    f"{new_s * 1e3:.1f} ms",
                    f"{base_s * 1e3:.1f} ms",
                    f"{base_s / new_s:.1f}x faster",
                ]
            )
            rows.append(
                _row(
                    f"{side}x{side} decode + read (`load_image`)",
                    lambda p=path: load_image(p),
                    args.runs,
                )
            )
            rows.append(
                _row(
                    f"{side}x{side} -> {INPUT} px model input (`prepare_source`)",
                    lambda p=path: prepare_source(p, "x", input_size=INPUT),
                    args.runs,
                )
            )
        sets = [(f"{args.count} x the 1024 px image", [generated[0]] * args.count)]
        if args.real:
            paths = sorted(str(p) for p in args.real.glob("*.dcm"))[: args.count]
            sets.append((f"{len(paths)} real DICOMs of {args.real}", paths))
        runs = max(3, args.runs // 2)
        for what, paths in sets:
            new = _throughput(paths, args.workers, True, runs)
            base = _throughput(paths, args.workers, False, runs)
            rows.append(
                [
                    f"{what} -> {INPUT} px, {args.workers} worker processes",
                    f"{new:.0f} images/s",
                    f"{base:.0f} images/s",
                    f"{new / base:.1f}x",
                ]
            )
    print(machine_line())
    print(
        f"Median of {args.runs} runs (images/s: of {runs}); pixels within one grey level checked.\n"
    )
    print_table(
        (
            "Measure",
            "libjpeg-turbo (simplejpeg)",
            "Baseline (same run): pydicom's default",
            "Ratio",
        ),
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
