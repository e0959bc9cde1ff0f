"""Training throughput: images/s of a full training step at 512 px (CPU by default).

Measures, in one run, on phantom DICOMs written to a temporary folder:

* ``data``: one batch through the training data path (DICOM decode -> display pipeline ->
  resize -> v2 augmentation), as a DataLoader worker does it;
* ``forward``: the training-mode forward pass with losses, no backward (the baseline);
* ``step``: forward + backward + AdamW step (what training costs per batch).

Each is the median of ``--runs`` (>= 5) timed repetitions after a warm-up. The ratio
``step / forward`` shows what backward and the optimizer add. On CUDA the model runs under
bf16/fp16 autocast in channels_last, as ``pneumoview train`` does.

Usage::

    python bench/bench_train.py [--backbone mobilenet_v3] [--size 512] [--batch 2] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, median_seconds  # noqa: E402
from detector.model.build import BACKBONES, build_model  # noqa: E402
from detector.synth.phantoms import synthesize  # noqa: E402
from detector.training.datasets import DetectionDataset, collate  # noqa: E402
from detector.training.engine import autocast_for, to_model_images, to_model_targets  # noqa: E402
from detector.training.records import load_records  # noqa: E402
from detector.training.transforms import AUGMENT_LEVELS, build_transforms  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="retinanet", choices=("retinanet", "fasterrcnn"))
    parser.add_argument("--backbone", default="mobilenet_v3", choices=BACKBONES)
    parser.add_argument("--size", type=int, default=512, help="model input size")
    parser.add_argument("--image-size", type=int, default=1024, help="phantom DICOM size")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--augment", default="light", choices=AUGMENT_LEVELS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be >= 5 (the median of at least five)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, max(4, args.batch), size=args.image_size, seed=1, positive_fraction=1.0)
        records, _ = load_records(tmp, Path(tmp) / "labels.csv")
        dataset = DetectionDataset(
            records, input_size=args.size, transforms=build_transforms(args.augment)
        )

        def load_batch() -> tuple[list, list]:
            return collate([dataset[i % len(dataset)] for i in range(args.batch)])

        data_s = median_seconds(load_batch, args.runs)
        images, targets = load_batch()

    torch.manual_seed(0)
    model = build_model(args.arch, backbone=args.backbone, min_size=args.size).to(device)
    amp_dtype = None
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    imgs = to_model_images(images, device)
    tgts = to_model_targets(targets, device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def forward() -> None:
        with torch.no_grad(), autocast_for(device, amp_dtype):
            model(imgs, tgts)
        sync()

    def step() -> None:
        with autocast_for(device, amp_dtype):
            loss = sum(model(imgs, tgts).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
        sync()

    forward_s = median_seconds(forward, args.runs, warmup=2)
    step_s = median_seconds(step, args.runs, warmup=2)

    print(machine_line())
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)}, {amp_dtype})" if device.type == "cuda" else "")
    )
    print(
        f"{args.arch}/{args.backbone}, input {args.size}, batch {args.batch}, "
        f"augment {args.augment}, median of {args.runs}"
    )
    print(
        f"  data (decode+augment) {data_s * 1000:8.1f} ms/batch  {args.batch / data_s:7.1f} img/s"
    )
    print(
        f"  forward only          {forward_s * 1000:8.1f} ms/batch  {args.batch / forward_s:7.1f} img/s"
    )
    print(
        f"  training step         {step_s * 1000:8.1f} ms/batch  {args.batch / step_s:7.1f} img/s"
    )
    print(f"  step / forward ratio  {step_s / forward_s:8.2f}x")
    print(
        f"  end to end, data in the same process: "
        f"{args.batch / (step_s + data_s):.1f} img/s (data in parallel workers: "
        f"{args.batch / max(step_s, data_s):.1f} img/s when enough workers)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
