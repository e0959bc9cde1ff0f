"""Checkpoints: round trip, atomic save, and a clear error for every kind of bad file."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest
import torch

from detector.model.build import build_model
from detector.model.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)

TINY = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64}


class _RunsCode:
    """Unpickling this calls os.system: what weights_only loading must refuse."""

    def __reduce__(self):
        return (os.system, ("echo SHOULD-NOT-RUN > /dev/null",))


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    model = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
    save_checkpoint(path, model, {**TINY, "threshold": 0.3, "metrics": {"rsna_map": 0.1}})
    return path


class TestSaveCheckpoint:
    def test_round_trip(self, checkpoint: Path) -> None:
        """The state dict and the plain metadata come back, with defaults filled in."""
        state, meta = load_checkpoint(checkpoint)
        assert meta["arch"] == "retinanet"
        assert meta["classes"] == ["background", "Lung Opacity"]
        assert meta["num_classes"] == 2
        assert meta["threshold"] == 0.3
        assert meta["metrics"] == {"rsna_map": 0.1}
        assert meta["equalize"] == "none"
        assert {"training", "project_version", "created"} <= set(meta)
        assert all(isinstance(v, torch.Tensor) for v in state.values())

    def test_file_layout(self, checkpoint: Path) -> None:
        """The file is the documented dict and loads with weights_only=True."""
        payload = torch.load(checkpoint, weights_only=True)
        assert payload["format"] == FORMAT
        assert payload["version"] == 1
        assert set(payload) == {"format", "version", "state_dict", "meta"}

    def test_train_state_with_tensors_is_kept(self, tmp_path: Path) -> None:
        """Extra meta keys (resume state with tensors, tuples, paths) survive as plain data."""
        path = tmp_path / "resume.pt"
        model = build_model(**{"min_size": 64, "backbone": "mobilenet_v3"})
        extra = {"train_state": {"epoch": 3, "moments": torch.ones(2), "size": (1, 2)}}
        save_checkpoint(path, model.state_dict(), {**TINY, **extra, "data": tmp_path})
        _, meta = load_checkpoint(path)
        assert meta["train_state"]["epoch"] == 3
        assert torch.equal(meta["train_state"]["moments"], torch.ones(2))
        assert meta["train_state"]["size"] == [1, 2]
        assert meta["data"] == str(tmp_path)

    def test_meta_that_is_not_plain_data_is_refused(self, tmp_path: Path) -> None:
        """An object in meta is a TypeError naming the key, and nothing is written."""
        path = tmp_path / "x.pt"
        with pytest.raises(TypeError, match=r"meta.training.optimizer: object is not plain data"):
            save_checkpoint(path, {}, {**TINY, "training": {"optimizer": object()}})
        assert not path.exists()

    def test_bad_meta_is_refused(self, tmp_path: Path) -> None:
        """A class count that disagrees with the class list cannot be saved."""
        with pytest.raises(ValueError, match="class-count mismatch"):
            save_checkpoint(tmp_path / "x.pt", {}, {**TINY, "num_classes": 3})

    def test_failed_save_keeps_the_old_file(self, checkpoint: Path) -> None:
        """Saving is atomic: a failure leaves the previous checkpoint intact and no temp file."""
        before = checkpoint.read_bytes()
        with pytest.raises(TypeError):
            save_checkpoint(checkpoint, {}, {**TINY, "x": object()})
        assert checkpoint.read_bytes() == before
        assert [p.name for p in checkpoint.parent.iterdir()] == ["tiny.pt"]


class TestLoadModel:
    def test_builds_and_loads_in_eval_mode(self, checkpoint: Path) -> None:
        """load_model returns the described model with the saved weights, in eval mode."""
        model, meta = load_model(checkpoint)
        state, _ = load_checkpoint(checkpoint)
        assert not model.training
        assert meta["input_size"] == 64
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key])


def _bad(tmp_path: Path, kind: str, checkpoint: Path) -> Path:
    path = tmp_path / f"{kind}.pt"
    if kind == "random":
        # Seeded, and not starting with 0x80 (a pickle) or b"PK" (a zip): unseeded bytes began
        # with 0x80 one run in 256 and then read as a damaged pickle, a different reason.
        path.write_bytes(b"\x00" + random.Random(2026).randbytes(4095))
    elif kind == "code":
        torch.save({"format": FORMAT, "payload": _RunsCode()}, path)
    elif kind == "raw-pickle":
        path.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    elif kind == "truncated":
        data = checkpoint.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "bare-state-dict":
        torch.save(
            build_model("retinanet", backbone="mobilenet_v3", min_size=64).state_dict(), path
        )
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        state, meta = load_checkpoint(checkpoint)
        if kind == "wrong-arch":
            meta["arch"] = "fasterrcnn"
        elif kind == "unknown-arch":
            meta["arch"] = "yolo"
        elif kind == "class-count":
            meta["classes"] = ["background", "Lung Opacity", "Nodule"]
            meta["num_classes"] = 3
        elif kind == "newer":
            torch.save({"format": FORMAT, "version": 99, "state_dict": state, "meta": meta}, path)
            return path
        torch.save({"format": FORMAT, "version": 1, "state_dict": state, "meta": meta}, path)
    return path


class TestBadCheckpoints:
    @pytest.mark.parametrize(
        ("kind", "reason"),
        [
            ("random", r"not a checkpoint \(not a PyTorch file\)"),
            ("code", r"refused: the file contains Python objects or code"),
            ("raw-pickle", r"refused: the file contains Python objects or code"),
            ("truncated", r"truncated or corrupt file"),
            ("bare-state-dict", r"not a PneumoView checkpoint \(a bare state dict"),
            ("empty", r"empty file"),
            ("wrong-arch", r"wrong architecture: the weights do not fit fasterrcnn/mobilenet_v3"),
            ("unknown-arch", r"wrong architecture 'yolo'"),
            (
                "class-count",
                r"class-count mismatch: the weights have 2 classes but the metadata lists 3",
            ),
            ("newer", r"checkpoint version 99 is newer"),
        ],
    )
    def test_error_names_file_and_reason(
        self, tmp_path: Path, checkpoint: Path, kind: str, reason: str
    ) -> None:
        """Every bad checkpoint gives a CheckpointError "<file name>: <reason>"."""
        path = _bad(tmp_path, kind, checkpoint)
        with pytest.raises(CheckpointError, match=f"^{kind}.pt: {reason}"):
            load_model(path)

    def test_code_is_never_run(self, tmp_path: Path, checkpoint: Path, monkeypatch) -> None:
        """Loading a pickle with a code-running object does not call it."""
        path = _bad(tmp_path, "code", checkpoint)
        calls = []
        monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
        assert calls == []

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing checkpoint names the file."""
        with pytest.raises(CheckpointError, match="^absent.pt: file not found"):
            load_checkpoint(tmp_path / "absent.pt")


def _with_meta(tmp_path: Path, name: str, **changes) -> Path:
    """A checkpoint file whose metadata is TINY's completed, with ``changes`` written over it
    as a tampering tool would (after save_checkpoint's own checks)."""
    from detector.model.checkpoint import complete_meta

    meta = complete_meta(TINY)
    for key, value in changes.items():
        target = meta
        *parents, last = key.split("__")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    path = tmp_path / f"{name}.pt"
    torch.save({"format": FORMAT, "version": 1, "state_dict": {}, "meta": meta}, path)
    return path


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class TestTamperedMetadata:
    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            # issue 21, defect 8: integers beyond 64 bits overflowed a Qt signal (segfault)
            (
                {"max_boxes": 10**30},
                r"max_boxes must be a whole number in 1\.\.1000 \(or None for no cap\), "
                r"not an integer of 100 bits",
            ),
            ({"max_boxes": 2**63}, r"max_boxes .*, not 9223372036854775808"),
            ({"num_classes": 2**70}, r"class-count mismatch: num_classes is an integer of 71 bits"),
            (
                {"training__seed": 2**64},
                r"metadata field training\.seed: an integer of 65 bits is out of the 64-bit range",
            ),
            (
                {"metrics__history": [1, -(2**63) - 1]},
                r"metadata field metrics\.history\[1\]: -9223372036854775809 is out of the 64-bit",
            ),
            (
                {"training__deep": _nested(40)},
                r"metadata field training\.deep.* more than 32 levels",
            ),
            ({"classes": ["background", 10**30]}, r"'classes' must list .* by name"),
            # issue 21, defect 9: a tampered gate was shown in the model card, then ignored
            ({"image_threshold": 5.0}, r"image_threshold must be a number in \[0, 1\], not 5\.0"),
            (
                {"image_threshold": "abc"},
                r"image_threshold must be a number in \[0, 1\], not 'abc'",
            ),
            ({"max_boxes": float("nan")}, r"max_boxes .*, not nan"),
            ({"max_boxes": -3}, r"max_boxes .*, not -3"),
            ({"tta": "rot90"}, r"tta must be one of none, hflip, not 'rot90'"),
            ({"tta": 1}, r"tta must be one of none, hflip, not 1"),
            ({"threshold": "abc"}, r"threshold must be a number in \[0, 1\], not 'abc'"),
        ],
    )
    def test_refused_with_the_file_and_the_field(
        self, tmp_path: Path, changes: dict, reason: str
    ) -> None:
        """One CheckpointError line "<file>: <field and reason>" for every tampered value."""
        path = _with_meta(tmp_path, "tampered", **changes)
        with pytest.raises(CheckpointError, match=f"^tampered.pt: {reason}") as info:
            load_checkpoint(path)
        assert "\n" not in str(info.value)

    def test_a_gate_that_is_off_loads(self, tmp_path: Path) -> None:
        """None for image_threshold, max_boxes and tta (the shipped demo model) means "off"."""
        path = _with_meta(tmp_path, "off", image_threshold=None, max_boxes=None, tta=None)
        _, meta = load_checkpoint(path)
        assert (meta["image_threshold"], meta["max_boxes"], meta["tta"]) == (None, None, None)

    def test_a_full_gate_loads(self, tmp_path: Path) -> None:
        """A calibrated gate and 64-bit extremes in the free fields load unchanged."""
        path = _with_meta(
            tmp_path,
            "gate",
            threshold=0.1,
            image_threshold=0.15,
            max_boxes=2,
            tta="hflip",
            training__seed=2**63 - 1,
            training__low=-(2**63),
        )
        _, meta = load_checkpoint(path)
        assert (meta["threshold"], meta["image_threshold"], meta["max_boxes"]) == (0.1, 0.15, 2)
        assert meta["training"]["seed"] == 2**63 - 1

    def test_tampered_values_cannot_be_saved_either(self, tmp_path: Path) -> None:
        """save_checkpoint applies the same rule, so a bad gate is never written."""
        with pytest.raises(ValueError, match=r"image_threshold must be a number in \[0, 1\]"):
            save_checkpoint(tmp_path / "x.pt", {}, {**TINY, "image_threshold": 5.0})
        assert not (tmp_path / "x.pt").exists()


class TestZipArchives:
    def test_a_zip_holding_a_checkpoint_says_so(self, tmp_path: Path) -> None:
        """A checkpoint zipped again (a download, a mail attachment) is named as such."""
        import zipfile

        inner = _with_meta(tmp_path, "inner")
        path = tmp_path / "zipped.pt"
        with zipfile.ZipFile(path, "w") as archive:
            archive.write(inner, "model.pt")
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(info.value) == (
            "zipped.pt: a zip archive holding 'model.pt', not a checkpoint "
            "(extract the checkpoint file from it and load that)"
        )

    def test_a_zip_of_other_files(self, tmp_path: Path) -> None:
        """A zip without data.pkl is "not a PyTorch checkpoint", not "damaged"."""
        import zipfile

        path = tmp_path / "notes.pt"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
            archive.writestr("data.csv", "a,b")
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(info.value) == (
            "notes.pt: a zip archive of 2 file(s), not a PyTorch checkpoint (no data.pkl in it)"
        )


class TestLargeInput:
    def test_input_4096_loads_with_a_warning_in_the_card(self, tmp_path: Path) -> None:
        """input_size 4096 is allowed (train --size allows it) but the model card warns."""
        from detector.model.choice import large_input_warning, model_card

        _, meta = load_checkpoint(_with_meta(tmp_path, "big", input_size=4096))
        warning = (
            "input size 4096 px is above 2048: every image is resized to it, and detection "
            "may need several GB of memory"
        )
        assert large_input_warning(meta) == warning
        assert f"warning: {warning}" in model_card(meta, "big.pt")

    def test_input_2048_has_no_warning(self, tmp_path: Path) -> None:
        from detector.model.choice import large_input_warning

        _, meta = load_checkpoint(_with_meta(tmp_path, "ok", input_size=2048))
        assert large_input_warning(meta) is None

    def test_input_above_4096_is_refused(self, tmp_path: Path) -> None:
        path = _with_meta(tmp_path, "huge", input_size=8192)
        with pytest.raises(CheckpointError, match=r"^huge.pt: input_size must be an integer"):
            load_checkpoint(path)
