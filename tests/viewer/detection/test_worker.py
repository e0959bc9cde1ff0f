"""The viewer's detection worker: the model input it feeds, the frames it reads, its gate."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pytest

from detector.imaging.lut import Window
from detector.imaging.render import render
from tests.conftest import chest_like
from tests.viewer.detection_models import brightness_model, make_detector
from viewer.detection.controller import DetectionController
from viewer.detection.worker import DetectionJob, JobDone, run_detection
from viewer.loading.pixel_cache import PixelCache
from viewer.platform.workers import load_frame


def _recorder():
    """A model that records (clones of) the tensors it is fed and finds nothing."""
    import torch

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.inputs: list[torch.Tensor] = []

        def forward(self, images):  # noqa: ANN001, ANN202
            self.inputs.extend(im.clone() for im in images)
            empty = {"boxes": torch.zeros((0, 4)), "scores": torch.zeros(0)}
            return [{**empty, "labels": torch.zeros(0, dtype=torch.int64)} for _ in images]

    return Recorder()


def _fixed_scores(scores: tuple[float, ...]):
    """A model giving four 10-px boxes with these scores on every image."""
    import torch

    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, images):  # noqa: ANN001, ANN202
            boxes = torch.tensor(
                [[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30], [20, 20, 30, 30]],
                dtype=torch.float32,
            )
            out = {"boxes": boxes, "scores": torch.tensor(scores), "labels": torch.ones(4).long()}
            return [dict(out) for _ in images]

    return Fixed()


def _run(detector, jobs: list[DetectionJob]) -> list[JobDone]:
    events = run_detection(detector, deque(jobs), threading.Event())
    return [e for e in events if isinstance(e, JobDone)]


class TestModelInput:
    @pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
    @pytest.mark.parametrize("equalize", ["none", "hist"])
    def test_cached_frame_file_and_detect_feed_identical_tensors(
        self, make_dicom, photometric, equalize
    ):
        """The worker on the window's cached frame == the worker decoding the file == the
        `detect` engine (iter_detect on the path): torch.equal on the model-input tensors."""
        import torch

        pixels = (chest_like(96, seed=3) // 3 + 50).astype(np.uint8)
        path = str(make_dicom("x.dcm", pixels, photometric=photometric))
        shown = load_frame(path, 0)  # what the window decodes and caches
        # The reader has been looking at it with another window, not inverted: no effect.
        render(shown, Window(70.0, 30.0), invert=False)
        cache = PixelCache()
        cache.put(shown)
        model = _recorder()
        detector = make_detector(model, equalize=equalize)
        frame = cache.detached(path, 0)
        assert frame is not None
        done = _run(detector, [DetectionJob("a", path, 0, frame), DetectionJob("b", path, 0)])
        cli = list(detector.iter_detect([path]))
        assert [d.result.error for d in done] == [None, None] and cli[0][1].error is None
        cached, decoded, detect = model.inputs
        assert cached.shape == (3, 64, 64) and cached.dtype == torch.float32
        assert torch.equal(cached, decoded)
        assert torch.equal(cached, detect)
        # Same original size on every path (boxes go back to the same pixels).
        assert done[0].result.image_size == done[1].result.image_size == (96, 96)

    def test_monochrome1_input_is_the_inverse_of_monochrome2(self, make_dicom):
        """The cached-frame path keeps the MONOCHROME1 inversion (the tensors differ by it)."""
        pixels = (chest_like(64, seed=5) // 3 + 50).astype(np.uint8)
        cache = PixelCache()
        jobs = []
        for name, photometric in (("m1.dcm", "MONOCHROME1"), ("m2.dcm", "MONOCHROME2")):
            path = str(make_dicom(name, pixels, photometric=photometric))
            cache.put(load_frame(path, 0))
            jobs.append(DetectionJob(name, path, 0, cache.detached(path, 0)))
        model = _recorder()
        _run(make_detector(model), jobs)
        mono1, mono2 = model.inputs
        assert float((mono1 + mono2 - 1.0).abs().max()) < 0.02


class TestCachedFrame:
    def test_cached_frame_is_used_without_reading_the_file(self, qtbot, make_dicom):
        """The controller hands the worker the cached frame: with the file deleted after
        caching, the result is the one the file gave; without the cache it is an error."""
        pixels = np.zeros((64, 64), np.uint8)
        pixels[:40] = 255  # brightness model: score and box height follow the white share
        path = make_dicom("gone.dcm", pixels)
        cache = PixelCache()
        cache.put(load_frame(str(path), 0))

        def result_of(controller: DetectionController):
            with qtbot.waitSignal(controller.result_ready, timeout=20_000) as blocker:
                controller.run([DetectionJob("k", str(path), 0)])
            controller.shutdown()
            return blocker.args[1]

        with_file = DetectionController()
        with_file.use_detector(make_detector(brightness_model(), threshold=0.1))
        expected = result_of(with_file)
        assert expected.error is None
        (box,) = expected.detections
        assert box.score == pytest.approx(40 / 64, abs=0.02)

        path.unlink()
        cached = DetectionController(pixel_cache=cache)
        cached.use_detector(make_detector(brightness_model(), threshold=0.1))
        assert result_of(cached) == expected

        uncached = DetectionController(pixel_cache=PixelCache())
        uncached.use_detector(make_detector(brightness_model(), threshold=0.1))
        assert result_of(uncached).error == "file not found"

    def test_d_in_the_window_runs_on_the_shown_frame(self, qtbot, make_main_window, make_dicom):
        """D on the image on screen needs no second decode: the file may be gone."""
        from PySide6 import QtCore

        from tests.viewer.conftest import open_and_wait

        pixels = np.zeros((64, 64), np.uint8)
        pixels[:32] = 255
        path = make_dicom("shown.dcm", pixels)
        window = make_main_window()
        open_and_wait(qtbot, window, [str(path)])
        path.unlink()
        window.detection.use_detector(make_detector(brightness_model(), threshold=0.1))
        with qtbot.waitSignal(window.detection.result_ready, timeout=20_000) as blocker:
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
        result = blocker.args[1]
        assert result.error is None
        assert result.detections[0].score == pytest.approx(0.5, abs=0.02)


class TestGate:
    def test_worker_applies_the_checkpoint_gate_down_to_the_floor(self, make_dicom):
        """Image threshold 0.6 and cap 3 as `detect` applies them; the box threshold (0.5) is
        left to the slider, so boxes down to the 0.05 floor are kept."""
        path = str(make_dicom("g.dcm", np.full((64, 64), 100, np.uint8)))
        meta = {"threshold": 0.5, "image_threshold": 0.6, "max_boxes": 3}
        opened = make_detector(_fixed_scores((0.3, 0.9, 0.04, 0.55)), **meta)
        (done,) = _run(opened, [DetectionJob("k", path)])
        assert [round(d.score, 4) for d in done.result.detections] == [0.9, 0.55, 0.3]
        closed = make_detector(_fixed_scores((0.3, 0.58, 0.04, 0.55)), **meta)
        (done,) = _run(closed, [DetectionJob("k", path)])
        assert done.result.detections == [] and done.result.error is None
