"""Model input for the detection worker: from the window's cached frame vs decoding the file.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_worker_input.py [--runs 7]``. Prints a
Markdown table for docs/PERFORMANCE.md.

The window has already decoded the frame it shows (``viewer.loading.pixel_cache``); the worker
takes a read-only copy of it (``PixelCache.detached``) instead of reading the file again. The
baseline, measured in the same run, is the worker's fallback: ``prepare_source`` on the path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import chest_field, machine_line, median_seconds, print_table  # noqa: E402
from detector.imaging.decode import load_image  # noqa: E402
from detector.imaging.dicom_write import (  # noqa: E402
    compress_jpeg_baseline,
    new_image_dataset,
    save_dataset,
)
from detector.model.sources import prepare_source  # noqa: E402
from viewer.loading.pixel_cache import PixelCache  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels")
    parser.add_argument("--input-size", type=int, default=512, help="model input side")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        field = chest_field((args.size, args.size), seed=1)
        for label, jpeg in (("uncompressed 12-bit", False), ("JPEG Baseline 8-bit", True)):
            if jpeg:
                ds = compress_jpeg_baseline(new_image_dataset((field * 255).astype(np.uint8)))
            else:
                ds = new_image_dataset((field * 4095).astype(np.uint16), bits_stored=12)
            path = str(Path(tmp) / f"{'jpeg' if jpeg else 'raw'}.dcm")
            save_dataset(ds, path)
            cache = PixelCache()
            cache.put(load_image(path))

            def from_file(path: str = path) -> object:
                return prepare_source(path, "x", input_size=args.input_size)

            def from_cache(path: str = path, cache: PixelCache = cache) -> object:
                return prepare_source(cache.detached(path), "x", input_size=args.input_size)

            a = prepare_source(path, "x", input_size=args.input_size).gray
            b = from_cache().gray  # type: ignore[attr-defined]
            assert a is not None and b is not None and np.array_equal(a, b), "inputs differ"
            t_file = median_seconds(from_file, args.runs)
            t_cache = median_seconds(from_cache, args.runs)
            rows.append(
                (
                    f"{args.size}x{args.size} {label} -> {args.input_size} px model input",
                    f"{t_cache * 1e3:.1f} ms",
                    f"decode the file again: {t_file * 1e3:.1f} ms",
                    f"{t_file / t_cache:.1f}x faster",
                )
            )
    print(machine_line())
    print(f"Median of {args.runs} runs; identical model input checked in the same run.\n")
    print_table(("Measure", "From the cached frame", "Baseline (same run)", "Ratio"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
