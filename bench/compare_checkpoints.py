"""Do two checkpoints hold the same weights? (`make real-model` vs the shipped file.)

    python bench/compare_checkpoints.py build/real-model/fold0/real.cal.pt resources/models/real.pt

Prints ``identical weights`` (every tensor equal, same names) or the tensors that differ with
their largest absolute difference; exit 0 when identical, 1 otherwise. Metadata (creation time,
paths) is not compared; the gate and TTA stored by `calibrate` are.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.model.checkpoint import load_checkpoint  # noqa: E402

GATE_KEYS = ("threshold", "image_threshold", "max_boxes", "tta", "input_size", "equalize")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    (sa, ma), (sb, mb) = (load_checkpoint(p) for p in argv)
    differ = []
    for name in sorted(set(sa) | set(sb)):
        if name not in sa or name not in sb:
            differ.append(f"{name}: only in {'the first' if name in sa else 'the second'}")
        elif sa[name].shape != sb[name].shape:
            differ.append(f"{name}: shape {tuple(sa[name].shape)} vs {tuple(sb[name].shape)}")
        elif not bool((sa[name] == sb[name]).all()):
            diff = (sa[name].double() - sb[name].double()).abs().max().item()
            differ.append(f"{name}: max |difference| {diff:.3g}")
    for key in GATE_KEYS:
        if ma.get(key) != mb.get(key):
            differ.append(f"meta {key}: {ma.get(key)!r} vs {mb.get(key)!r}")
    if differ:
        print(f"{len(differ)} difference(s):")
        print("\n".join(differ[:20]))
        return 1
    print(f"identical weights ({len(sa)} tensors) and setting")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
