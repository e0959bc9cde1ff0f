"""``pneumoview detect PATHS... --model CKPT --out FILE.csv``: batch lung-opacity detection.

``--out`` is checked before anything else (a folder, a FIFO, a missing or read-only folder is
a usage error, exit 2). Files are decoded by DataLoader workers (``--workers``) while the model
runs (:meth:`detector.model.inference.Detector.iter_detect`); a progress bar on stderr shows
images/s. Every result is appended to a journal beside the output
(:mod:`detector.model.journal`) as soon as it is known, so Ctrl+C or a kill loses nothing: ``--resume``
skips the images that the journal (or an existing output CSV) already has. At the end the CSV
is written atomically and the journal deleted. Unreadable files are reported (``path: reason``)
and skipped; the exit code is 1 when any input failed.

Formats: ``submission`` (RSNA ``patientId,PredictionString``) or ``labels`` (RSNA labels plus a
``score`` column). ``patientId`` is the file name without ``.dcm``, as in the RSNA data. ``sr``:
``--out`` is a folder that gets one DICOM SR (TID 1500) per image (:mod:`detector.sr`); a plain
image (PNG, JPEG) has no DICOM header to reference and is refused with one line.

Multi-GPU / multi-node: under ``torchrun`` (``WORLD_SIZE > 1``) each rank processes its share of
the files (a ``DistributedSampler`` without shuffling), journals into its own part file next to
``--out``, and rank 0 merges the parts into one CSV in input order.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.cli import UsageError
from detector.files.output import OutputError, check_output_file, remove_stale_temp_files
from detector.model.journal import (
    JournalWriter,
    existing_journals,
    journal_path,
    read_journals,
    source_key,
)
from detector.types import Detection, DetectionResult

NAME = "detect"
HELP = "detect lung opacities in DICOM images and write an RSNA submission or labels CSV"
FORMATS = ("submission", "labels", "sr")

log = logging.getLogger(__name__)


def default_model_path(paths: Sequence[str] = ()) -> Path:
    """The shipped model for these images (:func:`detector.model.choice.default_model`):
    ``resources/models/real.pt``, or ``demo.pt`` when every image is a synthetic phantom."""
    from detector.model.choice import default_model

    return Path(default_model(paths))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", help="DICOM files and/or folders (searched recursively)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="checkpoint file (default: the shipped real-data model resources/models/real.pt; "
        "demo.pt for synthetic phantoms)",
    )
    parser.add_argument("--out", required=True, help="output CSV file (a folder for --format sr)")
    parser.add_argument("--format", choices=FORMATS, default="submission", help="output format")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="keep boxes with score >= T (default: the checkpoint's threshold)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per forward pass (default 4 CPU, 16 GPU)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="decoding processes running beside the model (0: decode in the main process)",
    )
    parser.add_argument("--frame", type=int, default=0, help="frame of multi-frame images")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: skip the images its journal (or an existing --out "
        "CSV) already has",
    )


def _dist_env() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from torchrun's environment."""

    def num(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    return num("WORLD_SIZE", 1), num("RANK", 0), num("LOCAL_RANK", 0)


def _write_output(
    args: argparse.Namespace,
    results: list[DetectionResult],
    threshold: float,
    sr: tuple[list[tuple[str, DetectionResult]], Path, dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """Write the output; returns ``(rows or SR files written, images refused)``."""
    from detector.rsna.csv_write import write_labels, write_submission

    if sr is not None:
        from detector.sr.batch import model_author, write_detection_srs

        pairs, model_path, meta = sr
        written, problems = write_detection_srs(
            pairs, threshold, model_author(model_path, meta), args.out, frame=args.frame
        )
        for line in problems:
            sys.stderr.write(line + "\n")
        return written, len(problems)
    if args.format == "labels":
        return write_labels(args.out, results, threshold, with_score=True), 0
    return write_submission(args.out, results, threshold), 0


def _previous_output(path: Path) -> dict[str, DetectionResult]:
    """Results by patientId from an existing output CSV (``--resume`` after a finished run)."""
    from detector.rsna.labels import LabelsError, read_predictions

    try:
        preds = read_predictions(path)
    except LabelsError as err:
        raise UsageError(f"--resume: cannot use the existing output {err}") from None
    return {
        pid: DetectionResult(pid, [Detection.from_xywh(b[1:], b[0]) for b in boxes])
        for pid, boxes in preds.items()
    }


def _check_settings(found: list[dict[str, Any]], settings: dict[str, Any], out: Path) -> None:
    for old in found:
        diff = [k for k in settings if old.get(k) != settings[k]]
        if diff:
            shown = ", ".join(f"{k} {old.get(k)!r} (now {settings[k]!r})" for k in diff)
            raise UsageError(
                f"--resume: the interrupted run of {out} used {shown}; give the same options "
                "or delete its journal to start again"
            )


def _sharded(indices: list[int], world: int, rank: int) -> list[int]:
    """This rank's share (the DistributedSampler's, without its padding repeats)."""
    from torch.utils.data.distributed import DistributedSampler

    shards: Any = DistributedSampler(
        indices,  # type: ignore[arg-type]
        num_replicas=world,
        rank=rank,
        shuffle=False,
    )
    return [indices[i] for k, i in enumerate(shards) if rank + k * world < len(indices)]


def _describe_model(meta: dict[str, Any], path: Path, files: Sequence[str]) -> None:
    """Say which model runs (its card) and warn when the demo model meets real images."""
    from detector.model.choice import DEMO_WARNING, all_phantoms, is_demo_model, model_card

    for line in model_card(meta, path.name):
        log.info("%s", line)
    if is_demo_model(meta) and files and not all_phantoms(files):
        sys.stderr.write(f"pneumoview detect: warning: {DEMO_WARNING}\n")


def run(args: argparse.Namespace) -> int:
    from detector.files.scan import Skipped, iter_files, skipped_lines

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if args.workers < 0:
        raise UsageError("--workers must be >= 0")
    try:
        if args.format == "sr":
            from detector.files.output import check_output_dir

            out = check_output_dir(args.out)
        else:
            out = check_output_file(args.out)
    except OutputError as err:
        raise UsageError(f"--out {err}") from None
    missing = [p for p in args.paths if not os.path.exists(p)]
    skipped: list[Skipped] = []
    files = list(iter_files((p for p in args.paths if os.path.exists(p)), skipped))
    model_path = Path(args.model) if args.model else default_model_path(files)
    if args.model is None and not model_path.is_file():
        raise UsageError(
            "no --model given and no shipped model is installed (resources/models/real.pt)"
        )
    world, rank, local_rank = _dist_env()
    if rank == 0:
        remove_stale_temp_files(out.parent)
        if out.is_dir():
            remove_stale_temp_files(out)
    journals = existing_journals(out)
    if journals and not args.resume:
        raise UsageError(
            f"{journals[0]} holds the results of an interrupted run of {out.name}; add --resume "
            "to continue it, or delete it to start again"
        )

    import torch

    from detector.model.checkpoint import CheckpointError
    from detector.model.inference import Detector, RunProgress, image_id_for, resolve_device

    device = args.device
    if world > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    try:
        resolved = resolve_device(device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    batch_size = args.batch_size or (16 if resolved.type == "cuda" else 4)
    detector = Detector(model_path, device=resolved, batch_size=batch_size)
    try:
        detector.load()
    except CheckpointError as err:
        sys.stderr.write(f"pneumoview detect: {model_path}: {err.reason}\n")
        return 1
    threshold = detector.threshold if args.threshold is None else float(args.threshold)
    if rank == 0:
        _describe_model(detector.meta, model_path, files)
    settings = {
        "model": os.path.abspath(model_path),
        "threshold": threshold,
        "frame": int(args.frame),
    }

    # -- what earlier runs already did -------------------------------------------------------
    done_sources: dict[str, DetectionResult] = {}
    done_ids: dict[str, DetectionResult] = {}
    if args.resume:
        previous = read_journals(journals)
        _check_settings(previous.settings, settings, out)
        done_sources = {k: r for k, r in previous.results.items() if r.error is None}
        if out.is_file():
            done_ids = _previous_output(out)

    ids = [image_id_for(f) for f in files]
    keys = [source_key(f) for f in files]
    dupes = len(ids) - len(set(ids))
    if dupes and rank == 0:
        log.warning("%d file(s) share a patientId with another file (same file name)", dupes)
    todo = [i for i in range(len(files)) if keys[i] not in done_sources and ids[i] not in done_ids]
    resumed = len(files) - len(todo)
    if args.resume and rank == 0:
        log.info(
            "resuming: %d of %d image(s) already done, %d to go", resumed, len(files), len(todo)
        )

    dist = None
    if world > 1:
        import torch.distributed as tdist

        dist = tdist
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
        todo = _sharded(todo, world, rank)
        # Every rank has read the old journals before anyone appends to them.
        dist.barrier()

    from tqdm import tqdm

    results: dict[int, DetectionResult] = {}
    failed: list[int] = []
    t0 = time.perf_counter()
    rate = 0.0
    writer = JournalWriter(journal_path(out, rank, world), settings)
    try:
        with tqdm(
            total=len(todo),
            unit="img",
            file=sys.stderr,
            desc="detect" if world == 1 else f"detect[{rank}]",
            disable=None,
            dynamic_ncols=True,
        ) as bar:

            def report(p: RunProgress) -> None:
                nonlocal rate
                rate = p.images_per_s
                bar.update(1)

            for index, result in detector.iter_detect(
                files,
                image_ids=ids,
                threshold=args.threshold,
                frame=args.frame,
                workers=args.workers,
                indices=todo,
                progress=report,
            ):
                writer.add(files[index], result)
                results[index] = result
                if result.error is not None:
                    failed.append(index)
                    bar.write(f"{files[index]}: {result.error}", file=sys.stderr)
    except KeyboardInterrupt:
        writer.close()
        sys.stderr.write(
            f"interrupted after {len(results)} of {len(todo)} image(s); every result so far is "
            f"kept in {writer.path}: run the same command with --resume to finish\n"
        )
        return 130
    finally:
        writer.close()
    elapsed = time.perf_counter() - t0

    if dist is not None:
        dist.barrier()
        if rank != 0:
            # Rank 0 reports the merged outcome (and the exit code) for everyone.
            dist.destroy_process_group()
            return 0
        merged = read_journals(existing_journals(out)).results
        dist.destroy_process_group()
        for i, key in enumerate(keys):
            if i not in results and key in merged:
                results[i] = merged[key]
        failed = [i for i, r in results.items() if r.error is not None]

    ordered: list[DetectionResult] = []
    paired: list[tuple[str, DetectionResult]] = []
    for i in range(len(files)):
        if i in results:
            ordered.append(results[i])
        elif keys[i] in done_sources:
            ordered.append(done_sources[keys[i]])
        elif ids[i] in done_ids:
            ordered.append(done_ids[ids[i]])
        else:
            continue
        paired.append((files[i], ordered[-1]))
    # Rows of the earlier output for images not given this time are kept, not dropped.
    given = set(ids)
    ordered.extend(r for pid, r in done_ids.items() if pid not in given)
    sr = (paired, model_path, detector.meta) if args.format == "sr" else None
    written, refused = _write_output(args, ordered, threshold, sr)
    for path in existing_journals(out):
        path.unlink(missing_ok=True)

    for path in missing:
        sys.stderr.write(f"{path}: file not found\n")
    for line in skipped_lines(skipped):
        sys.stderr.write(line + "\n")
    n_failed = len(failed) + len(missing) + refused
    ok = sum(1 for r in ordered if r.error is None)
    positives = sum(1 for r in ordered if r.error is None and r.above(threshold))
    if dist is None:
        rate = len(results) / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(
        f"detected on {ok} of {len(files) + len(missing)} file(s) ("
        + (f"{resumed} from the interrupted run; " if resumed else "")
        + f"{positives} with findings at threshold {threshold:g}; {rate:.1f} images/s); "
        f"wrote {written} {'SR file' if args.format == 'sr' else 'row'}(s) to {args.out}"
        + (f"; {n_failed} failed" if n_failed else "")
        + "\n"
    )
    if not files and not missing:
        sys.stderr.write("no files found\n")
        return 1
    return 1 if n_failed else 0
