"""``pneumoview convert PATHS... --out DIR``: DICOM -> PNG through the display pipeline.

Writes ``DIR/<name>.png`` for every readable image and ``DIR/index.csv`` with one row per input
(``name,source,status,reason,output,height,width,source_height,source_width``: the PNG's size
and the source image's, so that ``train`` can scale labels given in the source's pixels),
written by the one CSV writer (:func:`detector.rsna.csv_write.write_rows`: formula cells
neutralised, file names that are not UTF-8 kept as their bytes). A
progress bar on stderr shows files/s. ``--out`` is checked first (a file, or a folder that
cannot be made or written, is a usage error, exit 2). Exit 0 when all converted, 1 when some
failed.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from detector.cli import UsageError
from detector.files.identity import patient_id_for
from detector.files.output import (
    OutputError,
    atomic_write_bytes,
    check_output_dir,
    remove_stale_temp_files,
)
from detector.files.scan import Skipped, iter_files, skipped_lines
from detector.imaging.lut import Window
from detector.imaging.overlays import draw_planes, read_overlays
from detector.imaging.plain import sniff_format
from detector.imaging.read import DicomReadError, read_dataset
from detector.imaging.render import EQUALIZE_CHOICES, display_pixels, resize_display
from detector.rsna.csv_write import write_rows

NAME = "convert"
HELP = "convert DICOM images to 8-bit PNG through the display pipeline"
INDEX_COLUMNS = (
    "name",
    "source",
    "status",
    "reason",
    "output",
    "height",
    "width",
    "source_height",
    "source_width",
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", help="DICOM files and/or folders (searched recursively)"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", type=int, default=None, help="longer side of the PNG in pixels")
    parser.add_argument("--equalize", choices=EQUALIZE_CHOICES, default="none")
    parser.add_argument(
        "--window", nargs=2, type=float, metavar=("C", "W"), help="window center and width"
    )
    parser.add_argument("--frame", type=int, default=0, help="frame of multi-frame images")
    parser.add_argument(
        "--overlays",
        action="store_true",
        help="burn the DICOM overlay planes into the PNG as dcmj2pnm draws them (graphics white, "
        "outside an ROI dimmed)",
    )
    parser.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes"
    )


@dataclass(frozen=True)
class Job:
    source: str
    name: str
    output: str
    size: int | None
    equalize: str
    window: tuple[float, float] | None
    frame: int
    overlays: bool = False


@dataclass(frozen=True)
class Outcome:
    name: str
    source: str
    status: str
    reason: str
    output: str
    #: ``(height, width)`` of the PNG and of the source image (``(0, 0)`` when it failed).
    size: tuple[int, int] = (0, 0)
    source_size: tuple[int, int] = (0, 0)


def output_stem(path: str) -> str:
    """The output name: the source's patientId (:func:`detector.files.identity.patient_id_for`)."""
    return patient_id_for(path)


def unique_names(sources: Iterable[str]) -> list[str]:
    """One output name per source; later duplicates get ``-2``, ``-3``... (case-insensitive)."""
    used: set[str] = set()
    names = []
    for src in sources:
        base = output_stem(src) or "image"
        name, k = base, 1
        while name.lower() in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name.lower())
        names.append(name)
    return names


def convert_one(job: Job) -> Outcome:
    from PIL import Image

    try:
        win = Window(job.window[0], job.window[1]) if job.window else None
        display = display_pixels(job.source, frame=job.frame, window=win, equalize=job.equalize)
        source_size = (int(display.shape[0]), int(display.shape[1]))
        if job.overlays:
            display = _with_overlays(job.source, job.frame, display)
        if job.size:
            display = resize_display(display, job.size)
        buf = io.BytesIO()
        Image.fromarray(display).save(buf, format="PNG", compress_level=3)
        atomic_write_bytes(job.output, buf.getvalue())
    except DicomReadError as err:
        return Outcome(job.name, job.source, "error", err.reason, "")
    except OSError as err:
        return Outcome(job.name, job.source, "error", f"cannot write output: {err}", "")
    except Exception as err:  # noqa: BLE001 - one bad file never stops the batch
        return Outcome(job.name, job.source, "error", f"{type(err).__name__}: {err}", "")
    size = (int(display.shape[0]), int(display.shape[1]))
    return Outcome(job.name, job.source, "ok", "", job.output, size, source_size)


def _with_overlays(source: str, frame: int, display: np.ndarray) -> np.ndarray:
    """``display`` with the overlay planes of ``frame`` burnt in; damaged planes are logged."""
    if sniff_format(source) is not None:
        return display  # a PNG/JPEG has no overlay planes
    found = read_overlays(read_dataset(source))
    for problem in found.problems:
        log.warning("%s: %s", source, problem)
    if not found.planes:
        return display
    return draw_planes(display, found.planes, frame)


def run(args: argparse.Namespace) -> int:
    if args.size is not None and args.size < 8:
        raise UsageError("--size must be at least 8")
    if args.window is not None and args.window[1] <= 0:
        raise UsageError("--window width must be > 0")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    try:
        out_dir = check_output_dir(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    remove_stale_temp_files(out_dir)
    skipped: list[Skipped] = []
    sources = list(iter_files(args.paths, skipped))
    missing = [p for p in args.paths if not os.path.exists(p)]
    names = unique_names(sources)
    jobs = [
        Job(
            source=src,
            name=name,
            output=str(out_dir / f"{name}.png"),
            size=args.size,
            equalize=args.equalize,
            window=tuple(args.window) if args.window else None,
            frame=args.frame,
            overlays=args.overlays,
        )
        for src, name in zip(sources, names, strict=True)
    ]
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    with tqdm(
        total=len(jobs),
        unit="file",
        file=sys.stderr,
        desc="convert",
        disable=None,
        dynamic_ncols=True,
    ) as bar:
        if args.workers > 1 and len(jobs) > 8:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                for outcome in pool.map(convert_one, jobs, chunksize=4):
                    outcomes.append(outcome)
                    bar.update(1)
        else:
            for job in jobs:
                outcomes.append(convert_one(job))
                bar.update(1)
    elapsed = time.perf_counter() - t0
    for src in missing:
        outcomes.append(Outcome(output_stem(src), src, "error", "file not found", ""))

    index_rows = (
        [
            o.name,
            o.source,
            o.status,
            o.reason,
            o.output,
            *([*o.size, *o.source_size] if o.status == "ok" else ["", "", "", ""]),
        ]
        for o in outcomes
    )
    write_rows(out_dir / "index.csv", INDEX_COLUMNS, index_rows)

    failed = [o for o in outcomes if o.status != "ok"]
    for o in failed:
        sys.stderr.write(f"{o.source}: {o.reason}\n")
    for line in skipped_lines(skipped):
        sys.stderr.write(line + "\n")
    ok = len(outcomes) - len(failed)
    rate = len(jobs) / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(
        f"converted {ok} of {len(outcomes)} file(s) to {out_dir} ({rate:.1f} files/s)"
        + (f"; {len(failed)} failed (see index.csv)" if failed else "")
        + "\n"
    )
    if not outcomes:
        sys.stderr.write("no files found\n")
        return 1
    return 1 if failed else 0
