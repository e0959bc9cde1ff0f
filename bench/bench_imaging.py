"""Imaging-core benchmarks (issue 2): read+decode+display, re-windowing, header scan.

Run: ``.venv/bin/python bench/bench_imaging.py [--runs 7]``. Prints a Markdown table for
docs/PERFORMANCE.md. Baselines are measured in the same run:

* read+decode+display vs. pydicom's bare ``dcmread(path).pixel_array`` on the same file;
* re-windowing (our composed LUT) vs. pydicom's float ``apply_voi_lut`` on the modality array;
* header scan rate (files/s) vs. a bare ``dcmread(stop_before_pixels=True)`` loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_voi_lut

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import chest_field, median_seconds, print_table  # noqa: E402
from detector.files.scan import scan  # noqa: E402
from detector.imaging.decode import load_image  # noqa: E402
from detector.imaging.dicom_write import (  # noqa: E402
    DX_IMAGE_STORAGE,
    compress_jpeg_baseline,
    new_image_dataset,
    save_dataset,
)
from detector.imaging.lut import Window  # noqa: E402
from detector.imaging.read import read_dataset  # noqa: E402
from detector.imaging.render import render  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    return median_seconds(fn, runs, warmup) * 1000.0


def make_files(tmp: Path) -> tuple[Path, Path, Path]:
    cr = new_image_dataset((chest_field((1024, 1024), 0) * 255).astype(np.uint8), Modality="CR")
    compress_jpeg_baseline(cr, quality=95)
    cr_path = tmp / "cr_jpeg_1024.dcm"
    save_dataset(cr, cr_path)
    dx_pixels = (chest_field((2500, 2048), 1) * 4095).astype(np.uint16)
    dx = new_image_dataset(
        dx_pixels,
        sop_class_uid=DX_IMAGE_STORAGE,
        bits_stored=12,
        Modality="DX",
        WindowCenter=2048,
        WindowWidth=4096,
        RescaleSlope=1,
        RescaleIntercept=0,
    )
    dx_path = tmp / "dx_16bit_2500x2048.dcm"
    save_dataset(dx, dx_path)
    dx.compress(pydicom.uid.JPEG2000Lossless)
    j2k_path = tmp / "dx_16bit_2500x2048_j2k.dcm"
    save_dataset(dx, j2k_path)
    return cr_path, dx_path, j2k_path


def bench_pipeline(path: Path, runs: int) -> tuple[float, float]:
    def bare() -> object:
        return pydicom.dcmread(path).pixel_array

    def ours() -> object:
        return render(load_image(read_dataset(path)))

    # Interleave so both see the same machine state.
    b_samples, o_samples = [], []
    bare(), ours()
    for _ in range(runs):
        b_samples.append(median_ms(bare, 1, 0))
        o_samples.append(median_ms(ours, 1, 0))
    return statistics.median(b_samples), statistics.median(o_samples)


def bench_rewindow(path: Path, runs: int) -> tuple[float, float]:
    image = load_image(path)
    ds = pydicom.dcmread(path)
    modality = image.modality
    centers = iter(range(100, 100000, 37))

    def ours() -> object:
        # A new window every call: the LUT is rebuilt, as during a right-drag.
        return render(image, Window(float(next(centers) % 3000), 800.0))

    def pydicom_float() -> object:
        ds.WindowCenter = float(next(centers) % 3000)
        ds.WindowWidth = 800.0
        voi = apply_voi_lut(modality, ds)
        lo, hi = float(voi.min()), float(voi.max())
        return ((voi - lo) * (255.0 / max(hi - lo, 1))).astype(np.uint8)

    return median_ms(pydicom_float, runs), median_ms(ours, runs)


def bench_scan(tmp: Path, n_files: int, runs: int) -> tuple[float, float]:
    folder = tmp / "scan"
    folder.mkdir()
    small = new_image_dataset(np.zeros((64, 64), np.uint8))
    for k in range(n_files):
        small.SOPInstanceUID = pydicom.uid.generate_uid()
        small.PatientID = f"P{k // 10:04d}"
        small.InstanceNumber = k
        save_dataset(small, folder / f"img{k:05d}.dcm")
    files = sorted(folder.iterdir())

    def bare() -> object:
        return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]

    def ours() -> object:
        result = scan([folder])
        assert len(result.instances()) == n_files
        return result

    return n_files / median_ms(bare, runs) * 1000, n_files / median_ms(ours, runs) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scan-files", type=int, default=1000)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pydicom {pydicom.__version__}, numpy {np.__version__}"
    )
    print(
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}; median of {args.runs} runs\n"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cr, dx, j2k = make_files(tmp)
        rows = []
        for label, path in (
            ("1024x1024 JPEG Baseline CR", cr),
            ("2500x2048 16-bit DX, uncompressed", dx),
            ("2500x2048 16-bit DX, JPEG 2000 lossless", j2k),
        ):
            base, ours = bench_pipeline(path, args.runs)
            rows.append(
                (
                    f"read+decode+display, {label}",
                    f"{base:.1f} ms (dcmread+pixel_array)",
                    f"{ours:.1f} ms",
                    f"{ours / base:.2f}x",
                    "<= 1.3x",
                )
            )
        for label, path, goal in (("1024x1024", cr, "<= 5 ms"), ("2500x2048", dx, "<= 20 ms")):
            base, ours = bench_rewindow(path, args.runs)
            rows.append(
                (
                    f"re-window to 8-bit, {label}",
                    f"{base:.1f} ms (pydicom apply_voi_lut, float)",
                    f"{ours:.2f} ms",
                    f"{ours / base:.2f}x",
                    goal,
                )
            )
        base, ours = bench_scan(tmp, args.scan_files, max(3, args.runs // 2))
        rows.append(
            (
                f"header scan, {args.scan_files} files",
                f"{base:.0f} files/s (bare dcmread loop)",
                f"{ours:.0f} files/s",
                f"{ours / base:.2f}x",
                ">= 700 files/s",
            )
        )
    print_table(("measurement", "baseline", "PneumoView", "ratio", "goal"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
