"""Checkpoint files: a state dict plus plain metadata, loaded with ``weights_only=True`` only.

File layout (``torch.save`` of one dict)::

    {"format": "pneumoview-checkpoint", "version": 1,
     "state_dict": {name: tensor, ...},
     "meta": {"arch", "backbone", "classes", "num_classes", "input_size", "equalize",
              "threshold", "training", "metrics", "project_version", "created", ...}}

``meta`` holds only plain Python (str, int, float, bool, None, lists, dicts) and tensors, so the
restricted unpickler of ``torch.load(weights_only=True)`` reads it and a file carrying code is
refused. Every failure is a :class:`CheckpointError` whose text is ``"<file name>: <reason>"``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from detector.errors import PneumoViewError
from detector.files.output import atomic_open
from detector.imaging.render import EQUALIZE_CHOICES
from detector.model.build import ARCHES, BACKBONES, build_model, count_classes
from detector.model.gating import gate_problem, show_value
from detector.model.tta import TTA_CHOICES
from detector.types import CLASS_NAMES

logger = logging.getLogger(__name__)

FORMAT = "pneumoview-checkpoint"
VERSION = 1
DEFAULT_INPUT_SIZE = 512
DEFAULT_THRESHOLD = 0.5
#: The largest ``input_size`` accepted (``train --size`` allows the same range).
MAX_INPUT_SIZE = 4096


class CheckpointError(PneumoViewError):
    """A checkpoint cannot be used; ``str(err)`` is ``"<file name>: <reason>"``."""


def project_version() -> str:
    """The installed PneumoView version (``"unknown"`` when running from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pneumoview")
    except PackageNotFoundError:
        return "unknown"


def _plain(value: Any, where: str) -> Any:
    """Convert to data ``weights_only`` can read back: plain Python containers and tensors."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise TypeError(f"checkpoint meta {where}: key {k!r} is not a str or int")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    raise TypeError(
        f"checkpoint meta {where}: {type(value).__name__} is not plain data "
        "(use str/int/float/bool/None, lists, dicts or tensors)"
    )


def complete_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate the metadata of a checkpoint about to be written.

    Raises
    ------
    ValueError
        Unknown arch/backbone/equalize, or ``num_classes`` that disagrees with ``classes``.
    TypeError
        A value that is not plain data.
    """
    out: dict[str, Any] = _plain(dict(meta), "meta")
    out.setdefault("arch", "retinanet")
    out.setdefault("backbone", "resnet50")
    out.setdefault("classes", list(CLASS_NAMES))
    out["classes"] = [str(c) for c in out["classes"]]
    out.setdefault("num_classes", len(out["classes"]))
    out.setdefault("input_size", DEFAULT_INPUT_SIZE)
    out.setdefault("equalize", "none")
    out.setdefault("threshold", DEFAULT_THRESHOLD)
    out.setdefault("training", {})
    out.setdefault("metrics", {})
    out.setdefault("project_version", project_version())
    out.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    reason = _meta_problem(out)
    if reason:
        raise ValueError(f"checkpoint meta: {reason}")
    return out


#: Deepest nesting of lists and dicts accepted in ``meta`` (written ones are a few levels deep).
MAX_META_DEPTH = 32
_INT64 = range(-(2**63), 2**63)


def _meta_problem(meta: Mapping[str, Any]) -> str | None:
    """The first reason ``meta`` cannot describe a model we can build and run, or ``None``.

    Every value is checked, not only the ones this program reads: the metadata of a file is
    untrusted, and it travels on through Qt signals, the session file and the model card.
    """
    arch, backbone = meta.get("arch"), meta.get("backbone")
    if not isinstance(arch, str) or arch not in ARCHES:
        return f"wrong architecture {show_value(arch)} (this program knows {', '.join(ARCHES)})"
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        return (
            f"unknown backbone {show_value(backbone)} (this program knows {', '.join(BACKBONES)})"
        )
    classes = meta.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) for c in classes)
    ):
        return "'classes' must list at least background and one class, by name"
    num = meta.get("num_classes")
    if not isinstance(num, int) or isinstance(num, bool) or num != len(classes):
        return (
            f"class-count mismatch: num_classes is {show_value(num)} "
            f"but {len(classes)} classes are named"
        )
    size = meta.get("input_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 32 <= size <= MAX_INPUT_SIZE:
        return f"input_size must be an integer in 32..{MAX_INPUT_SIZE}, not {show_value(size)}"
    equalize = meta.get("equalize")
    if not isinstance(equalize, str) or equalize not in EQUALIZE_CHOICES:
        return f"equalize must be one of {', '.join(EQUALIZE_CHOICES)}, not {show_value(equalize)}"
    if "threshold" not in meta:
        return "threshold must be a number in [0, 1], not missing"
    problem = gate_problem(meta)  # the same rule for the box threshold and the image gate
    if problem:
        return problem
    tta = meta.get("tta")
    if tta is not None and (not isinstance(tta, str) or tta not in TTA_CHOICES):
        return f"tta must be one of {', '.join(TTA_CHOICES)}, not {show_value(tta)}"
    return _plain_problem(meta)


def _plain_problem(meta: Mapping[str, Any]) -> str | None:
    """The first value anywhere in ``meta`` that is not plain data a 64-bit program can carry.

    Plain: ``None``, bool, str, float, an integer in the signed 64-bit range (a larger one
    overflows Qt and SQLite), tensors, and lists, tuples and dicts of them (str or int keys),
    nested at most :data:`MAX_META_DEPTH` levels.
    """
    stack: list[tuple[str, Any, int]] = [(str(k), v, 1) for k, v in meta.items()]
    for key in meta:
        if not isinstance(key, str):
            return f"metadata key {show_value(key)} is not a string"
    while stack:
        where, value, depth = stack.pop()
        if value is None or isinstance(value, bool | str | float | torch.Tensor):
            continue
        if isinstance(value, int):
            if value not in _INT64:
                return f"metadata field {where}: {show_value(value)} is out of the 64-bit range"
            continue
        if depth > MAX_META_DEPTH:
            return f"metadata field {where} is nested more than {MAX_META_DEPTH} levels deep"
        if isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", v, depth + 1) for i, v in enumerate(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                if (
                    isinstance(k, bool)
                    or not isinstance(k, str | int)
                    or (isinstance(k, int) and k not in _INT64)
                ):
                    return f"metadata field {where}: key {show_value(k)} is not a str or int"
                stack.append((f"{where}.{k}", v, depth + 1))
        else:
            return f"metadata field {where}: a {type(value).__name__} is not plain data"
    return None


def save_checkpoint(
    path: str | os.PathLike[str],
    model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
) -> None:
    """Write a checkpoint atomically (a crash never leaves a half-written file).

    Parameters
    ----------
    model_or_state_dict : nn.Module or mapping
        The model (its ``state_dict()`` is saved) or a state dict; tensors are copied to CPU.
    meta : mapping
        See the module docstring; missing keys get defaults (see :func:`complete_meta`). Extra
        keys (e.g. ``"train_state"`` with optimizer tensors for resuming) are kept.
    """
    state: Mapping[str, torch.Tensor] = (
        model_or_state_dict.state_dict()
        if isinstance(model_or_state_dict, nn.Module)
        else model_or_state_dict
    )
    state_dict = {str(k): v.detach().cpu() for k, v in state.items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": state_dict,
        "meta": complete_meta(meta),
    }
    with atomic_open(path, "wb") as fh:
        torch.save(payload, fh)


def _unpickler_detail(text: str) -> str:
    """The useful line of torch's long "Weights only load failed" message."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "GLOBAL" in ln or "Unsupported" in ln or "blocked" in ln:
            return ln if len(ln) <= 160 else ln[:157] + "..."
    return lines[0][:160] if lines else ""


def _zip_reason(path: str) -> str:
    """Why a zip file did not load: damaged, or a readable zip that is not a checkpoint.

    Reads the archive's directory only, never a member (a zip bomb stays packed).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "truncated or corrupt file (damaged zip archive)"
    if any(n.endswith("/data.pkl") for n in names):
        return "truncated or corrupt file (damaged checkpoint archive)"
    inner = [n for n in names if n.lower().endswith((".pt", ".pth", ".zip"))]
    if inner:
        more = f" and {len(inner) - 1} more" if len(inner) > 1 else ""
        return (
            f"a zip archive holding {show_value(inner[0])}{more}, not a checkpoint "
            "(extract the checkpoint file from it and load that)"
        )
    return f"a zip archive of {len(names)} file(s), not a PyTorch checkpoint (no data.pkl in it)"


def _load_error(path: str, exc: BaseException) -> CheckpointError:
    text = str(exc)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in text:
        # The restricted unpickler met an import: the file carries objects or code.
        return CheckpointError(
            path,
            "refused: the file contains Python objects or code, not only weights and plain "
            f"data ({_unpickler_detail(text)}; loaded with weights_only=True)",
        )
    if head.startswith(b"PK"):
        return CheckpointError(path, _zip_reason(path))
    if head[:1] == b"\x80":
        return CheckpointError(
            path,
            "refused: a pickle that is not a plain-weights checkpoint "
            f"({_unpickler_detail(text) or 'unreadable'}; loaded with weights_only=True)",
        )
    return CheckpointError(path, "not a checkpoint (not a PyTorch file)")


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: Any = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's state dict and metadata without building the model.

    Returns
    -------
    state_dict : dict
    meta : dict
        Plain metadata, validated (known arch/backbone, matching class count).

    Raises
    ------
    CheckpointError
        Missing file, not a checkpoint, a pickle with code in it, truncated or corrupt, newer
        format version, wrong architecture, class-count mismatch.
    """
    spath = os.fspath(path)
    if not os.path.exists(spath):
        raise CheckpointError(spath, "file not found")
    if os.path.isdir(spath):
        raise CheckpointError(spath, "is a folder, not a checkpoint file")
    if os.path.getsize(spath) == 0:
        raise CheckpointError(spath, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before refusing them; the error says it all.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(spath, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise _load_error(spath, exc) from None
    except OSError as exc:
        raise CheckpointError(spath, f"cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for damaged files
        raise _load_error(spath, exc) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        if (
            isinstance(payload, dict)
            and payload
            and all(isinstance(v, torch.Tensor) for v in payload.values())
        ):
            raise CheckpointError(
                spath, "not a PneumoView checkpoint (a bare state dict without metadata)"
            )
        raise CheckpointError(spath, "not a PneumoView checkpoint (no 'format' marker)")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            spath, f"checkpoint version {version!r} is newer than this program reads ({VERSION})"
        )
    state_dict, meta = payload.get("state_dict"), payload.get("meta")
    if not isinstance(state_dict, dict) or not isinstance(meta, dict):
        raise CheckpointError(spath, "damaged checkpoint (no state_dict or meta)")
    problem = _meta_problem(meta)
    if problem:
        raise CheckpointError(spath, problem)
    trained = count_classes(meta["arch"], state_dict)
    if trained is not None and trained != meta["num_classes"]:
        raise CheckpointError(
            spath,
            f"class-count mismatch: the weights have {trained} classes but the metadata "
            f"lists {meta['num_classes']} ({', '.join(map(str, meta['classes']))})",
        )
    return state_dict, meta


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model a checkpoint describes, load its weights strictly, switch to eval mode.

    Raises
    ------
    CheckpointError
        See :func:`load_checkpoint`; also weights that do not fit the named architecture.
    """
    spath = os.fspath(path)
    state_dict, meta = load_checkpoint(spath, map_location="cpu")
    model = build_model(
        meta["arch"],
        backbone=meta["backbone"],
        num_classes=meta["num_classes"],
        min_size=meta["input_size"],
    )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError:
        expected = model.state_dict()
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        shape = [
            k
            for k in expected
            if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
        ]
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shape:
            detail.append(f"{len(shape)} with another shape (e.g. {shape[0]})")
        raise CheckpointError(
            spath,
            f"wrong architecture: the weights do not fit {meta['arch']}/{meta['backbone']} "
            f"({'; '.join(detail) or 'state dict mismatch'})",
        ) from None
    model.eval()
    model.to(device)
    return model, meta
