"""The Detector: boxes back in original pixels, bad files reported, cancel, progress, gate."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from detector.model.build import build_model
from detector.model.checkpoint import CheckpointError, save_checkpoint
from detector.model.inference import Detector, image_id_for, resolve_device
from tests.conftest import chest_like


class FakeModel(nn.Module):
    """Returns fixed boxes (in model-input pixels) and records the input sizes it saw."""

    def __init__(self, boxes=((8.0, 16.0, 24.0, 40.0),), scores=(0.9,), labels=(1,)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        self.scores = torch.tensor(scores, dtype=torch.float32)
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.seen: list[tuple[int, ...]] = []
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        self.seen.extend(tuple(im.shape) for im in images)
        return [
            {
                "boxes": self.boxes.clone(),
                "scores": self.scores.clone(),
                "labels": self.labels.clone(),
            }
            for _ in images
        ]


META = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64, "threshold": 0.5}


def fake_detector(**kwargs) -> Detector:
    model = kwargs.pop("model", None) or FakeModel()
    return Detector(model=model, meta=dict(META), device="cpu", **kwargs)


class TestPredict:
    def test_boxes_are_mapped_to_original_pixels(self) -> None:
        """A 128x256 image runs at 32x64 (scale 1/4): model boxes are multiplied by 4."""
        det = fake_detector()
        [result] = det.predict([np.zeros((128, 256), np.uint8)])
        assert det.model.seen == [(3, 32, 64)]
        assert result.image_size == (128, 256)
        assert result.detections[0].box_xyxy == (32.0, 64.0, 96.0, 128.0)
        assert result.detections[0].score == pytest.approx(0.9)
        assert result.detections[0].label == 1

    def test_threshold_and_background_are_filtered(self) -> None:
        """Boxes under the threshold and background labels are dropped; best score first."""
        model = FakeModel(
            boxes=((0, 0, 10, 10), (0, 0, 20, 20), (0, 0, 30, 30), (0, 0, 40, 40)),
            scores=(0.6, 0.2, 0.95, 0.99),
            labels=(1, 1, 1, 0),
        )
        det = fake_detector(model=model)
        [result] = det.predict([np.zeros((64, 64), np.uint8)])
        assert [d.score for d in result.detections] == pytest.approx([0.95, 0.6])
        [low] = det.predict([np.zeros((64, 64), np.uint8)], threshold=0.1)
        assert len(low.detections) == 3

    def test_image_without_findings(self) -> None:
        """A model that finds nothing gives an empty, successful result."""
        det = fake_detector(model=FakeModel(boxes=(), scores=(), labels=()))
        [result] = det.predict([chest_like(64)])
        assert result.ok and result.detections == []

    def test_unreadable_files_are_reported_not_raised(self, make_dicom, tmp_path: Path) -> None:
        """A broken file gets an error result; the other images are still processed."""
        good = make_dicom("good.dcm", chest_like(64))
        broken = tmp_path / "broken.dcm"
        broken.write_bytes(b"not dicom at all" * 10)
        det = fake_detector(batch_size=2)
        results = det.predict([good, broken, chest_like(32)])
        assert [r.image_id for r in results] == ["good", "broken", "2"]
        assert [r.ok for r in results] == [True, False, True]
        assert "not a DICOM file" in (results[1].error or "")
        assert results[1].detections == []
        assert det.model.calls == 2

    def test_progress_per_image_and_cancel_between_batches(self) -> None:
        """progress is called per image; cancel stops before the next batch, keeping results."""
        seen: list[tuple[int, int]] = []
        det = fake_detector(batch_size=2)
        images = [np.zeros((64, 64), np.uint8)] * 5
        results = det.predict(
            images,
            progress=lambda done, total: seen.append((done, total)),
            cancelled=lambda: len(seen) >= 2,
        )
        assert len(results) == 2
        assert seen == [(1, 5), (2, 5)]

    def test_image_ids(self) -> None:
        """Explicit ids are used; their count must match the images."""
        det = fake_detector()
        [r] = det.predict([np.zeros((8, 8), np.uint8)], image_ids=["abc"])
        assert r.image_id == "abc"
        with pytest.raises(ValueError, match="2 image_ids for 1 images"):
            det.predict([np.zeros((8, 8), np.uint8)], image_ids=["a", "b"])

    def test_real_tiny_model_from_checkpoint(self, tmp_path: Path, make_dicom) -> None:
        """A tiny RetinaNet checkpoint loads lazily once and finds boxes inside the image."""
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
        torch.nn.init.constant_(model.head.classification_head.cls_logits.bias, 2.0)
        ckpt = tmp_path / "tiny.pt"
        save_checkpoint(ckpt, model, {**META, "threshold": 0.4})
        det = Detector(ckpt, device="cpu")
        assert det.threshold == 0.4
        results = det.predict([make_dicom("p.dcm", chest_like(100))])
        assert results[0].detections
        for d in results[0].detections:
            x1, y1, x2, y2 = d.box_xyxy
            assert 0 <= x1 < x2 <= 100 and 0 <= y1 < y2 <= 100
            assert d.score >= 0.4
        first = det.model
        det.load()
        assert det.model is first

    def test_bad_checkpoint_raises_on_load(self, tmp_path: Path) -> None:
        """A bad checkpoint is a CheckpointError at load time, naming the file."""
        path = tmp_path / "bad.pt"
        path.write_bytes(b"garbage" * 100)
        det = Detector(path, device="cpu")
        with pytest.raises(CheckpointError, match="^bad.pt: not a checkpoint"):
            det.load()


class TestIterDetect:
    def test_results_stream_one_per_image(self, tmp_path: Path, make_dicom) -> None:
        """Each result is yielded before the next batch is read; a bad file is an error result."""
        good = make_dicom("a.dcm", chest_like(64))
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"\x00" * 200)
        det = fake_detector(batch_size=1)
        stream = det.iter_detect([good, bad, np.zeros((64, 64), np.uint8)])
        first = next(stream)
        assert first[0] == 0 and first[1].image_id == "a" and first[1].ok
        assert det.model.calls == 1  # the second image has not been run yet
        rest = list(stream)
        assert [i for i, _r in rest] == [1, 2]
        assert rest[0][1].error is not None and "not a DICOM" in rest[0][1].error
        assert rest[1][1].ok and rest[1][1].image_id == "2"

    def test_indices_progress_and_cancel(self) -> None:
        """Only the given indices run, in that order; progress counts them; cancel stops."""
        det = fake_detector(batch_size=2)
        images = [np.zeros((64, 64), np.uint8) for _ in range(6)]
        seen = []
        out = list(det.iter_detect(images, indices=[5, 1, 3], progress=seen.append))
        assert [i for i, _r in out] == [5, 1, 3]
        assert [(p.done, p.total) for p in seen] == [(1, 3), (2, 3), (3, 3)]
        assert all(p.images_per_s >= 0 for p in seen)
        before = det.model.calls
        stop = list(det.iter_detect(images, cancelled=lambda: det.model.calls > before))
        assert [i for i, _r in stop] == [0, 1]  # one batch of two, then cancelled

    def test_workers_decode_paths_in_other_processes(self, make_dicom) -> None:
        """With decoding workers the results are the same, in index order of the request."""
        paths = [make_dicom(f"w{i}.dcm", chest_like(64, seed=i)) for i in range(3)]
        det = fake_detector(batch_size=2)
        plain = {i: r for i, r in det.iter_detect(paths)}
        pooled = {i: r for i, r in det.iter_detect(paths, workers=2)}
        assert plain == pooled and sorted(pooled) == [0, 1, 2]


class TestGate:
    """Detector.finish applies the checkpoint's gate, the one place for `detect` and the viewer."""

    BOXES = (
        (0.0, 0.0, 10.0, 10.0),
        (20.0, 0.0, 30.0, 10.0),
        (0.0, 20.0, 10.0, 30.0),
        (20.0, 20.0, 30.0, 30.0),
    )

    def _detector(self, scores) -> Detector:
        model = FakeModel(boxes=self.BOXES, scores=scores, labels=(1, 1, 1, 1))
        meta = {**META, "threshold": 0.5, "image_threshold": 0.6, "max_boxes": 3}
        return Detector(model=model, meta=meta, device="cpu")

    def _scores(self, det: Detector, **kwargs) -> list[float]:
        from detector.model.sources import prepare_source

        item = prepare_source(np.zeros((64, 64), np.uint8), "x", input_size=64)
        [result] = det.predict_prepared([item], **kwargs)
        return [round(d.score, 4) for d in result.detections]

    def test_checkpoint_gate_by_default(self) -> None:
        """Best 0.9 opens the image; boxes >= the gate's 0.5 box threshold are kept."""
        det = self._detector((0.3, 0.9, 0.04, 0.55))
        assert self._scores(det) == [0.9, 0.55]
        [result] = det.predict([np.zeros((64, 64), np.uint8)])
        assert [round(d.score, 4) for d in result.detections] == [0.9, 0.55]

    def test_plain_threshold_replaces_the_gate(self) -> None:
        """``threshold`` (detect --threshold) is a plain per-box threshold: no image gate, no cap."""
        det = self._detector((0.3, 0.9, 0.04, 0.55))
        assert self._scores(det, threshold=0.02) == [0.9, 0.55, 0.3, 0.04]
        gated_out = self._detector((0.3, 0.58, 0.04, 0.55))
        assert self._scores(gated_out, threshold=0.2) == [0.58, 0.55, 0.3]

    def test_floor_keeps_image_gate_and_cap(self) -> None:
        """``floor`` (the viewer) keeps boxes down to it, still gated by the image threshold and
        capped at max_boxes."""
        det = self._detector((0.3, 0.9, 0.04, 0.55))
        assert self._scores(det, floor=0.05) == [0.9, 0.55, 0.3]
        assert self._scores(det, floor=0.01) == [0.9, 0.55, 0.3]  # cap 3
        assert self._scores(self._detector((0.3, 0.58, 0.04, 0.55)), floor=0.05) == []

    def test_threshold_and_floor_together_are_refused(self) -> None:
        det = self._detector((0.9, 0.8, 0.7, 0.6))
        with pytest.raises(ValueError, match="not both"):
            self._scores(det, threshold=0.5, floor=0.05)


class TestOutOfMemory:
    def test_gpu_oom_reruns_the_batch_on_cpu(self, caplog) -> None:
        """A CUDA out-of-memory error re-runs the batch on a CPU model rebuilt from the same
        weights, with a warning: the detections are those of the model run normally."""
        torch.manual_seed(0)
        model = build_model("retinanet", backbone="mobilenet_v3", min_size=64)
        with torch.no_grad():  # a confident head, so that there are boxes to compare
            model.head.classification_head.cls_logits.bias.fill_(2.0)
        meta = {"arch": "retinanet", "backbone": "mobilenet_v3", "input_size": 64}
        image = chest_like(64)
        on_gpu = copy.deepcopy(model)

        def out_of_memory(*_args, **_kwargs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        on_gpu.forward = out_of_memory  # the model's run on the GPU fails
        [expected] = Detector(model=model, meta=dict(meta), device="cpu").predict([image])
        det = Detector(model=on_gpu, meta=dict(meta), device="cpu")
        with caplog.at_level(logging.WARNING, logger="detector.model.inference"):
            [result] = det.predict([image])
        assert "out of memory" in caplog.text
        assert result.ok and len(expected.detections) > 0
        assert [d.box_xyxy for d in result.detections] == [d.box_xyxy for d in expected.detections]
        assert [d.score for d in result.detections] == [d.score for d in expected.detections]


class TestDevices:
    def test_cpu_is_always_available(self) -> None:
        """Forcing the CPU works everywhere."""
        assert resolve_device("cpu").type == "cpu"

    @pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
    def test_missing_cuda_is_a_clear_error(self) -> None:
        """Asking for CUDA without a GPU says so."""
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            resolve_device("cuda")

    def test_unknown_device(self) -> None:
        """A made-up device name is refused."""
        with pytest.raises(ValueError, match="unknown device"):
            resolve_device("quantum")


def test_image_id_for_strips_dicom_suffix() -> None:
    """The RSNA patientId is the file name without .dcm."""
    assert image_id_for("/x/0004cfab-14fd.dcm") == "0004cfab-14fd"
    assert image_id_for("/x/IM0001") == "IM0001"
