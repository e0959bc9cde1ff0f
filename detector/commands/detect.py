"""``pneumoview detect PATHS... --model CKPT --out FILE.csv``: batch lung-opacity detection.

Files are decoded by DataLoader workers (``--workers``) while the model runs; a progress bar
on stderr shows images/s. Unreadable files are reported (``path: reason``) and skipped; the CSV
is written atomically; the exit code is 1 when any input failed.

Formats: ``submission`` (RSNA ``patientId,PredictionString``) or ``labels`` (RSNA labels plus a
``score`` column). ``patientId`` is the file name without ``.dcm``, as in the RSNA data.

Multi-GPU / multi-node: under ``torchrun`` (``WORLD_SIZE > 1``) each rank processes its share of
the files (a ``DistributedSampler`` without shuffling), writes a part file next to ``--out``,
and rank 0 merges the parts into one CSV in input order.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.cli import UsageError
from detector.fileio import atomic_open

NAME = "detect"
HELP = "detect lung opacities in DICOM images and write an RSNA submission or labels CSV"
FORMATS = ("submission", "labels")

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """``resources/models/demo.pt`` beside the package (or inside a PyInstaller bundle)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / "models" / "demo.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", help="DICOM files and/or folders (searched recursively)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="checkpoint file (default: resources/models/demo.pt when installed)",
    )
    parser.add_argument("--out", required=True, help="output CSV file")
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


class FileDataset:
    """Map-style dataset: index -> :class:`~detector.inference.PreparedImage` (never raises)."""

    def __init__(
        self,
        files: Sequence[str],
        ids: Sequence[str],
        *,
        input_size: int,
        equalize: str,
        frame: int = 0,
    ) -> None:
        self.files = list(files)
        self.ids = list(ids)
        self.input_size = input_size
        self.equalize = equalize
        self.frame = frame

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        from detector.inference import prepare_source

        item = prepare_source(
            self.files[index],
            self.ids[index],
            input_size=self.input_size,
            equalize=self.equalize,
            frame=self.frame,
        )
        return index, item


def _collate(batch: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return batch


def _dist_env() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from torchrun's environment."""

    def num(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    return num("WORLD_SIZE", 1), num("RANK", 0), num("LOCAL_RANK", 0)


def _result_record(index: int, source: str, result: Any) -> dict[str, Any]:
    return {
        "index": index,
        "source": source,
        "image_id": result.image_id,
        "image_size": list(result.image_size),
        "error": result.error,
        "detections": [[*d.box_xyxy, d.score, d.label] for d in result.detections],
    }


def _record_result(record: dict[str, Any]) -> Any:
    from detector.types import Detection, DetectionResult

    dets = [
        Detection((float(a), float(b), float(c), float(d)), float(s), int(lab))
        for a, b, c, d, s, lab in record["detections"]
    ]
    size = record["image_size"]
    return DetectionResult(record["image_id"], dets, (int(size[0]), int(size[1])), record["error"])


def part_path(out: str | os.PathLike[str], rank: int, world: int) -> Path:
    """Where rank ``rank`` of ``world`` writes its share before rank 0 merges."""
    out = Path(out)
    return out.with_name(f".{out.name}.part{rank}-of-{world}.jsonl")


def write_part(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")


def merge_parts(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Records of all parts, in input order, each index once (the sampler pads with repeats)."""
    by_index: dict[int, dict[str, Any]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    by_index.setdefault(int(rec["index"]), rec)
    return [by_index[i] for i in sorted(by_index)]


def _write_output(args: argparse.Namespace, results: list[Any], threshold: float) -> int:
    from detector.labels import write_labels, write_submission

    if args.format == "labels":
        return write_labels(args.out, results, threshold, with_score=True)
    return write_submission(args.out, results, threshold)


def run(args: argparse.Namespace) -> int:
    from detector.scan import Skipped, iter_files, skipped_lines

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if args.workers < 0:
        raise UsageError("--workers must be >= 0")
    model_path = Path(args.model) if args.model else default_model_path()
    if args.model is None and not model_path.is_file():
        raise UsageError(
            "no --model given and the demo model (resources/models/demo.pt) is not installed"
        )
    if Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a CSV file name")

    import torch

    from detector.checkpoint import CheckpointError
    from detector.inference import Detector, image_id_for

    world, rank, local_rank = _dist_env()
    device = args.device
    if world > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    try:
        from detector.inference import resolve_device

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

    missing = [p for p in args.paths if not os.path.exists(p)]
    skipped: list[Skipped] = []
    files = list(iter_files((p for p in args.paths if os.path.exists(p)), skipped))
    ids = [image_id_for(f) for f in files]
    dupes = len(ids) - len(set(ids))
    if dupes and rank == 0:
        log.warning("%d file(s) share a patientId with another file (same file name)", dupes)

    dist = None
    if world > 1:
        import torch.distributed as tdist

        dist = tdist
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")

    dataset = FileDataset(
        files, ids, input_size=detector.input_size, equalize=detector.equalize, frame=args.frame
    )
    sampler: Any = None
    if dist is not None:
        from torch.utils.data.distributed import DistributedSampler

        shards: Any = DistributedSampler(
            dataset,  # type: ignore[arg-type]
            num_replicas=world,
            rank=rank,
            shuffle=False,
        )
        # The sampler pads the last round with repeats of the first files; drop those so that
        # a repeated file is neither processed nor reported twice.
        sampler = [i for k, i in enumerate(shards) if rank + k * world < len(dataset)]
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    workers = args.workers if len(files) > 1 else 0
    loader: Any = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        prefetch_factor=4 if workers else None,
    )
    total = len(sampler) if sampler is not None else len(files)
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with tqdm(
        total=total,
        unit="img",
        file=sys.stderr,
        desc="detect" if world == 1 else f"detect[{rank}]",
        disable=None,
        dynamic_ncols=True,
    ) as bar:
        for batch in loader:
            indices = [i for i, _item in batch]
            results = detector.predict_prepared([item for _i, item in batch], threshold=threshold)
            for index, result in zip(indices, results, strict=True):
                records.append(_result_record(index, files[index], result))
                if result.error is not None:
                    bar.write(f"{files[index]}: {result.error}", file=sys.stderr)
            bar.update(len(batch))
    elapsed = time.perf_counter() - t0

    if dist is not None:
        write_part(part_path(args.out, rank, world), records)
        dist.barrier()
        if rank != 0:
            # Rank 0 reports the merged outcome (and the exit code) for everyone.
            dist.destroy_process_group()
            return 0
        parts = [part_path(args.out, r, world) for r in range(world)]
        records = merge_parts(parts)
        for p in parts:
            p.unlink(missing_ok=True)
        dist.destroy_process_group()

    results = [_record_result(r) for r in records]
    written = _write_output(args, results, threshold)
    failed = [r for r in records if r["error"] is not None]
    for path in missing:
        sys.stderr.write(f"{path}: file not found\n")
    for line in skipped_lines(skipped):
        sys.stderr.write(line + "\n")
    ok = len(records) - len(failed)
    rate = len(records) / elapsed if elapsed > 0 else 0.0
    positives = sum(1 for r in results if r.error is None and r.detections)
    sys.stderr.write(
        f"detected on {ok} of {len(records) + len(missing)} file(s) "
        f"({positives} with findings at threshold {threshold:g}; {rate:.1f} images/s); "
        f"wrote {written} row(s) to {args.out}"
        + (f"; {len(failed) + len(missing)} failed" if failed or missing else "")
        + "\n"
    )
    if not records and not missing:
        sys.stderr.write("no files found\n")
        return 1
    return 1 if failed or missing else 0
