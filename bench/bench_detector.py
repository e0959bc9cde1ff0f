"""Detector benchmarks (issue 4): seconds per 1024x1024 JPEG DICOM, end to end, at input 512.

Run: ``.venv/bin/python bench/bench_detector.py [--runs 5] [--sizes 512] [--gpu-images 512] [--compile]``.

CPU (always):
* decode = read + JPEG decode + display pipeline + grey + resize to 512 (the baseline);
* model = one forward pass at batch 1 (torch.inference_mode), per architecture/backbone;
* end to end = ``Detector.predict([path])``: decode + model + post-processing;
  with the ratio model / decode measured in the same run.

GPU (only when CUDA is present): model latency at batch 1 (fp32 and autocast), and the
throughput of the ``detect`` pipeline (DataLoader workers decoding beside the model) over a
folder of generated 1024x1024 JPEG DICOMs, fp32 vs. bf16/fp16 autocast, optionally with
``torch.compile`` of the backbone.

Weights are untrained (timing only). The classification bias is set so that many anchors pass
the 0.05 score floor: post-processing (top-k + NMS) then does the work a trained model makes it
do, rather than the nearly free pass of an untrained head.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import chest_field, machine_line, median_seconds  # noqa: E402
from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset  # noqa: E402
from detector.imaging.render import display_pixels  # noqa: E402
from detector.model.build import build_model  # noqa: E402
from detector.model.inference import Detector  # noqa: E402
from detector.model.preprocess import gray_to_tensor, prepare_gray  # noqa: E402
from detector.model.sources import PreparedImage, prepare_source  # noqa: E402

INPUT = 512
VARIANTS = [
    ("RetinaNet R50-FPN v2", "retinanet", "resnet50"),
    ("RetinaNet MobileNetV3-FPN (light)", "retinanet", "mobilenet_v3"),
    ("RetinaNet EfficientNet-Lite0-FPN128", "retinanet", "efficientnet_lite0"),
    ("RetinaNet R18-FPN (light)", "retinanet", "resnet18"),
    ("Faster R-CNN R50-FPN v2", "fasterrcnn", "resnet50"),
]


def make_files(folder: Path, count: int, size: int = 1024) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        ds = new_image_dataset(
            (chest_field((size, size), i % 8) * 255).astype(np.uint8), Modality="CR"
        )
        compress_jpeg_baseline(ds, quality=95)
        path = folder / f"bench{i:05d}.dcm"
        save_dataset(ds, path)
        paths.append(str(path))
    return paths


def timing_model(arch: str, backbone: str, size: int = INPUT) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(arch, backbone=backbone, min_size=size)
    if arch == "retinanet":
        torch.nn.init.constant_(model.head.classification_head.cls_logits.bias, -2.5)
    return model.eval()


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{machine_line()}; torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def bench_cpu(
    paths: list[str], runs: int, variants: list[tuple[str, str, str]], size: int = INPUT
) -> None:
    path = paths[0]
    decode = median_seconds(lambda: prepare_gray(display_pixels(path), input_size=size), runs)
    print(f"\nCPU, 1024x1024 JPEG Baseline DICOM, input {size}, batch 1, median of {runs} runs")
    print(f"decode baseline (read + decode + display + resize to {size}): {decode * 1000:.1f} ms\n")
    print("| model | model only | end to end | model / decode |")
    print("|---|---|---|---|")
    gray, _ = prepare_gray(display_pixels(path), input_size=size)
    for label, arch, backbone in variants:
        model = timing_model(arch, backbone, size)
        tensor = gray_to_tensor(torch.from_numpy(gray))

        def forward(model: torch.nn.Module = model, tensor: torch.Tensor = tensor) -> None:
            with torch.inference_mode():
                model([tensor])

        model_s = median_seconds(forward, runs)
        detector = Detector(
            model=model,
            meta={"arch": arch, "backbone": backbone, "input_size": size},
            device="cpu",
        )
        detector.load()
        end_s = median_seconds(lambda detector=detector: detector.predict([path]), runs)
        print(
            f"| {label} | {model_s:.3f} s | {end_s:.3f} s | {model_s / decode:.1f}x |",
            flush=True,
        )


def bench_gpu(
    paths: list[str], runs: int, workers: int, batch: int, compile_backbone: bool
) -> None:
    from torch.utils.data import DataLoader

    from detector.model.sources import SourceDataset, collate_items

    device = torch.device("cuda")
    print(
        f"\nGPU: {torch.cuda.get_device_name(0)}; {len(paths)} files, batch {batch}, "
        f"{workers} DataLoader workers, input {INPUT}"
    )
    # Decode rate alone (the workers' ceiling).
    ds = SourceDataset(paths, [Path(p).stem for p in paths], input_size=INPUT, equalize="none")
    t0 = time.perf_counter()
    for _batch in DataLoader(
        ds, batch_size=batch, num_workers=workers, collate_fn=collate_items, prefetch_factor=4
    ):
        pass
    decode_rate = len(paths) / (time.perf_counter() - t0)
    print(f"decode only (workers, no model): {decode_rate:.0f} images/s\n")
    print("| model | precision | batch-1 model latency | end-to-end images/s | model / decode |")
    print("|---|---|---|---|---|")
    one = prepare_source(paths[0], "x", input_size=INPUT)
    for label, arch, backbone in VARIANTS:
        for amp in (False, True):
            model = timing_model(arch, backbone)
            detector = Detector(
                model=model,
                meta={"arch": arch, "backbone": backbone},
                device=device,
                batch_size=batch,
            )
            detector.load()
            if not amp:
                detector._amp_dtype = None
            if compile_backbone:
                model.backbone = torch.compile(model.backbone)  # type: ignore[assignment]
            dtype = str(detector._amp_dtype).replace("torch.", "") if amp else "fp32"

            def single(detector: Detector = detector, one: PreparedImage = one) -> None:
                detector.run_model([one.gray])
                torch.cuda.synchronize()

            latency = median_seconds(single, runs, warmup=3)
            batch_items = [one] * batch

            def model_batch(
                detector: Detector = detector, batch_items: list[PreparedImage] = batch_items
            ) -> None:
                detector.run_model([b.gray for b in batch_items])
                torch.cuda.synchronize()

            model_rate = batch / median_seconds(model_batch, runs, warmup=2)
            loader = DataLoader(
                ds,
                batch_size=batch,
                num_workers=workers,
                collate_fn=collate_items,
                prefetch_factor=4,
            )
            t0 = time.perf_counter()
            n = 0
            for items in loader:
                detector.predict_prepared([it for _i, it in items], threshold=0.5)
                n += len(items)
            torch.cuda.synchronize()
            rate = n / (time.perf_counter() - t0)
            print(
                f"| {label}{' +compile' if compile_backbone else ''} | {dtype} | "
                f"{latency * 1000:.1f} ms | {rate:.0f} (model alone {model_rate:.0f}) | "
                f"{decode_rate / model_rate:.2f}x |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gpu-images", type=int, default=512)
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (GPU)")
    parser.add_argument("--all", action="store_true", help="CPU: also R18 and Faster R-CNN")
    parser.add_argument("--sizes", type=int, nargs="+", default=[INPUT], help="CPU input sizes")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cpu_variants = VARIANTS if args.all else VARIANTS[:3]
        paths = make_files(folder, 1)
        for size in args.sizes:
            bench_cpu(paths, args.runs, cpu_variants, size)
        if not torch.cuda.is_available():
            print("\nno GPU on this machine")
            return
        paths = make_files(folder / "gpu", 64)
        paths = [paths[i % len(paths)] for i in range(args.gpu_images)]
        bench_gpu(paths, args.runs, args.workers, args.batch, compile_backbone=False)
        if args.compile:
            bench_gpu(paths, args.runs, args.workers, args.batch, compile_backbone=True)


if __name__ == "__main__":
    main()
