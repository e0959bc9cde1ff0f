"""Which shipped model to use, and how to describe a model to the person using it.

Two checkpoints ship in ``resources/models/``:

``real.pt``
    The default: RetinaNet MobileNetV3-FPN trained from scratch on real chest X-rays
    (rsna-real-512), its gate and TTA chosen on a validation fold (see docs/PERFORMANCE.md).
``demo.pt``
    Trained on the project's synthetic phantoms; used by default only for phantoms (the demo
    study, ``pneumoview synth`` output), since its boxes mean nothing on a real radiograph.

No torch and no Qt here: the command line and the viewer both call it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from detector.files.resources import resource_path
from detector.model.gating import show_value

REAL_MODEL = "real.pt"
DEMO_MODEL = "demo.pt"
#: Header values that :mod:`detector.synth.phantoms` writes into every phantom.
PHANTOM_MANUFACTURER = "PneumoView synthetic phantom generator"
#: Headers read to decide whether a set of images is phantoms.
SAMPLE = 16
DEMO_WARNING = (
    "the DEMO model was trained on synthetic phantoms: its boxes are meaningless on real "
    "X-rays (use the default real-data model, or --model)"
)
DEMO_BANNER = "DEMO: trained on synthetic phantoms, meaningless on real X-rays"
#: Input sizes above this get a memory warning (:func:`large_input_warning`).
LARGE_INPUT_SIZE = 2048


def shipped_model(name: str) -> str:
    """Path of a shipped checkpoint (``real.pt`` / ``demo.pt``); it may be missing."""
    return os.fspath(resource_path("models", name))


def is_phantom_header(header: Any) -> bool:
    """True for a DICOM header written by :mod:`detector.synth.phantoms`."""
    return str(getattr(header, "Manufacturer", "") or "") == PHANTOM_MANUFACTURER


def is_phantom_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a readable phantom DICOM (header only; never raises)."""
    from detector.imaging.read import DicomReadError, read_header

    try:
        return is_phantom_header(read_header(os.fspath(path)))
    except (DicomReadError, OSError, ValueError):
        return False


def all_phantoms(paths: Iterable[str | os.PathLike[str]], sample: int = SAMPLE) -> bool:
    """True when the first ``sample`` images of ``paths`` are all phantoms (and there is one)."""
    seen = 0
    for path in paths:
        if not is_phantom_file(path):
            return False
        seen += 1
        if seen >= sample:
            break
    return seen > 0


def default_model(paths: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The shipped model for these images: the demo model for phantoms, else the real one.

    Falls back to whichever of the two is installed.
    """
    real, demo = shipped_model(REAL_MODEL), shipped_model(DEMO_MODEL)
    preferred, other = (demo, real) if paths and all_phantoms(paths) else (real, demo)
    return preferred if os.path.isfile(preferred) or not os.path.isfile(other) else other


def is_demo_model(meta: Mapping[str, Any]) -> bool:
    """True for a checkpoint trained on synthetic phantoms (the shipped demo or alike)."""
    data = meta.get("training_data")
    if isinstance(data, Mapping) and data.get("kind") == "synthetic":
        return True
    return str(meta.get("description", "")).lstrip().upper().startswith("DEMO")


def _num(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.{digits}f}" if math.isfinite(number) else "n/a"


def validation_text(meta: Mapping[str, Any]) -> str | None:
    """The stored validation metrics in one line (``None`` when there are none).

    ``RSNA metric 0.127 (0.125 with the gate chosen on held-out halves), mAP@0.5 0.165,
    sensitivity 0.51, specificity 0.89``: the first number is measured with the stored setting
    on the images that chose it, the second is the honest estimate ``calibrate`` stores.
    """
    metrics = meta.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        return None
    heldout = metrics.get("rsna_map_heldout_gate")
    note = f" ({_num(heldout, 3)} with the gate chosen on held-out halves)" if heldout else ""
    return (
        f"RSNA metric {_num(metrics.get('rsna_map'), 3)}{note}, "
        f"mAP@0.5 {_num(metrics.get('map50'), 3)}, sensitivity {_num(metrics.get('sensitivity'))}, "
        f"specificity {_num(metrics.get('specificity'))}"
    )


def validation_images(meta: Mapping[str, Any]) -> int | None:
    """How many validation images the stored metrics were measured on."""
    metrics = meta.get("metrics")
    n = metrics.get("images") if isinstance(metrics, Mapping) else None
    if isinstance(n, float) and math.isfinite(n) and 0 < n < 2**63:
        return int(n)
    return n if isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**63 else None


def large_input_warning(meta: Mapping[str, Any]) -> str | None:
    """A warning for an input size that makes detection need several GB of memory, or ``None``.

    Every image is resized to ``input_size`` before the model sees it, so memory grows with
    its square: 4096 px took 12.6 GB on four small images. Such a model still loads (``train
    --size`` allows up to 4096), but the reader is told before the machine starts to swap.
    """
    size = meta.get("input_size")
    if isinstance(size, int) and size > LARGE_INPUT_SIZE:
        return (
            f"input size {size} px is above {LARGE_INPUT_SIZE}: every image is resized to it, "
            "and detection may need several GB of memory"
        )
    return None


def setting_text(meta: Mapping[str, Any]) -> str:
    """The stored inference setting: box threshold, image gate, box cap, test-time augmentation.

    Read through :meth:`detector.model.gating.Gate.from_meta`, the gate that detection applies,
    so the card never shows a value that is then ignored; an unusable one is named instead.
    """
    from detector.model.gating import Gate, gate_problem

    problem = gate_problem(meta)
    if problem:
        return f"setting not usable: {problem}"
    gate = Gate.from_meta(meta)
    text = f"box threshold {_num(gate.box_threshold)}"
    if gate.image_threshold > 0:
        text += f", image threshold {_num(gate.image_threshold)}"
    if gate.max_boxes is not None:
        text += f", at most {gate.max_boxes} box(es) per image"
    tta = meta.get("tta")
    if tta is not None and tta != "none":
        from detector.model.tta import TTA_CHOICES  # loaded with the model already

        if not isinstance(tta, str) or tta not in TTA_CHOICES:
            return (
                f"setting not usable: tta {show_value(tta)} is not one of {', '.join(TTA_CHOICES)}"
            )
        text += f", {tta} test-time augmentation"
    return text


def pretrained_text(meta: Mapping[str, Any]) -> str:
    """``"backbone weights: ImageNet from <package> <version> (<licence>)"``, or ``""``."""
    training = meta.get("training")
    record = training.get("pretrained") if isinstance(training, Mapping) else None
    if not isinstance(record, Mapping) or record.get("weights") != "imagenet":
        return ""
    source = " ".join(
        _printable(record[k]) for k in ("package", "version") if isinstance(record.get(k), str)
    ) or _printable(record.get("file", "a local file"))
    licence = record.get("licence")
    return f"backbone weights: ImageNet, from {source}" + (
        f" ({_printable(licence)})" if isinstance(licence, str) else ""
    )


def _printable(value: Any, limit: int = 80) -> str:
    """A metadata string as one short printable line (the file is untrusted)."""
    return "".join(ch for ch in str(value) if ch.isprintable())[:limit]


def cross_validation_text(meta: Mapping[str, Any]) -> str:
    """``"cross-validated: RSNA 0.123 ± 0.045 (split-half gate, 3 folds)"``, or ``""``."""
    cv = meta.get("cross_validation")
    if not isinstance(cv, Mapping):
        return ""
    values = [cv.get("rsna_mean"), cv.get("rsna_sd"), cv.get("folds")]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        return ""
    mean, sd, folds = numbers
    return f"cross-validated: RSNA {mean:.3f} ± {sd:.3f} (split-half gate, {int(folds)} folds)"


def model_card(meta: Mapping[str, Any], name: str = "") -> list[str]:
    """Lines that say what a model is: name, architecture, data, validation metrics, use.

    Every line is plain text for a terminal, a dock or a log.
    """
    arch = f"{meta.get('arch', '?')} / {meta.get('backbone', '?')}"
    lines = [f"{name or 'model'}: {arch}, input {show_value(meta.get('input_size', '?'))} px"]
    warning = large_input_warning(meta)
    if warning:
        lines.append(f"warning: {warning}")
    if is_demo_model(meta):
        lines.append(DEMO_BANNER)
    data = meta.get("training_data")
    if isinstance(data, Mapping) and data.get("summary"):
        lines.append(f"trained on: {data['summary']}")
    elif meta.get("description"):
        lines.append(str(meta["description"]))
    trunk = pretrained_text(meta)
    if trunk:
        lines.append(trunk)
    cv = cross_validation_text(meta)
    if cv:
        lines.append(cv)
    validation = validation_text(meta)
    if validation:
        n = validation_images(meta)
        lines.append(f"validation{f' on {n} images' if n else ''}: {validation}")
    lines.append(setting_text(meta))
    if meta.get("intended_use"):
        lines.append(str(meta["intended_use"]))
    return lines
