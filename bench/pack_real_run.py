"""Pack a bench/real_model_gpu.sh run for the trip back from the GPU machine.

    python3 bench/pack_real_run.py RUN_DIR OUT_DIR

Writes OUT_DIR/run.tgz (logs, splits, calibration reports; no checkpoints) and the calibrated
checkpoints of two MobileNetV3 fold-0 candidates (the 384 px heavy-augmentation baseline and the
best other MobileNetV3 configuration by calibrated validation RSNA metric) cut into 15 MiB parts
(`<job>.pt.part-aa`, ...), since files coming back are capped at 16 MiB each.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

PART = 15 << 20


def chosen_rsna(job: Path) -> float:
    try:
        report = json.loads((job / "model.report.json").read_text())
        return float(report["chosen"]["metrics"]["rsna_map"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1.0


def main() -> int:
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "run.tgz", "w:gz") as tar:
        for path in sorted(run.rglob("*")):
            if path.is_file() and not path.name.endswith(".pt"):
                tar.add(path, arcname=str(path.relative_to(run)))
    jobs = [j for j in sorted(run.glob("mnv3-*-f0")) if (j / "model.cal.pt").is_file()]
    base = [j for j in jobs if j.name == "mnv3-384-heavy-f0"]
    others = sorted((j for j in jobs if j not in base), key=chosen_rsna, reverse=True)
    for job in (base + others)[:2]:
        data = (job / "model.cal.pt").read_bytes()
        for i in range(0, len(data), PART):
            suffix = "a" + "abcdefghij"[i // PART]
            (out / f"{job.name}.pt.part-{suffix}").write_bytes(data[i : i + PART])
        print(f"packed {job.name}: {len(data)} bytes, RSNA {chosen_rsna(job):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
