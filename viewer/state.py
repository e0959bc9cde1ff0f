"""The viewer's model: what is open, which image is shown and how (no Qt).

Widgets observe :class:`ViewerState` through psygnal signals (as napari's ``ViewerModel``), so
the model can be tested without a window and the detection and review features can hook in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from psygnal import Signal

from detector.files.scan import Instance, Patient, Problem, ScanItem, ScanResult, Series, Study
from detector.imaging.decode import DicomImage
from detector.imaging.lut import Window
from detector.imaging.render import EQUALIZE_CHOICES, render
from viewer.canvas.presets import PRESET_NAMES, preset_window


def patient_key(patient: Patient) -> tuple[Any, ...]:
    """Sort key of patients in the study tree (and navigation order)."""
    return (patient.name, patient.patient_id)


def study_key(study: Study) -> tuple[Any, ...]:
    return (study.date, study.uid)


def series_key(series: Series) -> tuple[Any, ...]:
    return (series.number is None, series.number or 0, series.description, series.uid)


def instance_key(inst: Instance) -> tuple[Any, ...]:
    return (inst.instance_number is None, inst.instance_number or 0, inst.name, inst.path)


class ViewerState:
    """Open images, the current image and its display settings.

    Signals
    -------
    images_added(list[Instance])
        New images found by a scan, in the order found.
    problems_added(list[Problem])
        Files that could not be read.
    cleared()
        Everything was closed.
    current_changed(Instance | None)
        Another image was selected (its pixels follow through ``image_changed``).
    image_changed(DicomImage | None)
        The decoded frame to display changed (new image or new frame).
    display_changed()
        Window, inversion or enhancement changed.
    frame_changed(int)
        The frame index of a multi-frame image changed.
    reviewed_changed(str, bool)
        An image (SOP Instance UID) was marked or unmarked as reviewed.
    """

    images_added = Signal(list)
    problems_added = Signal(list)
    cleared = Signal()
    current_changed = Signal(object)
    image_changed = Signal(object)
    display_changed = Signal()
    frame_changed = Signal(int)
    reviewed_changed = Signal(str, bool)

    def __init__(self) -> None:
        self.result = ScanResult()
        self._order: list[Instance] | None = None
        self._index: dict[int, int] = {}
        self._known: set[str] = set()
        self.current: Instance | None = None
        self.image: DicomImage | None = None
        self.frame = 0
        self.window: Window | None = None
        self.preset = "Header"
        self._header_index = 0
        #: Keep a window/level the reader chose when another image is selected.
        self.keep_window = False
        self.invert = False
        self.equalize = "none"
        self.reviewed: set[str] = set()
        self._render_cache: tuple[Any, np.ndarray] | None = None

    # -- contents ---------------------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        return self.result.problems

    def add_scan_items(self, items: Iterable[ScanItem]) -> list[Instance]:
        """Add scan results (duplicates of already-open files are ignored); returns new images."""
        new_images: list[Instance] = []
        new_problems: list[Problem] = []
        for item in items:
            real = os.path.realpath(item.path)
            if real in self._known:
                continue
            self._known.add(real)
            if item.problem is not None:
                new_problems.append(item.problem)
                continue
            self.result.add(item)
            if item.instance is not None and item.instance.is_image:
                new_images.append(item.instance)
        if new_images:
            self._order = None
            self.images_added.emit(new_images)
        self.add_problems(new_problems)
        return new_images

    def add_problems(self, problems: Iterable[Problem], *, once_per_path: bool = False) -> None:
        """List files that cannot be read or shown; ``problems_added`` tells the Problems panel.

        The one way problems are added: scan failures, images whose pixels do not decode and
        bad rows of an imported labels CSV. With ``once_per_path`` a file already listed is
        not listed again (an image that fails to decode each time it is shown).
        """
        listed = {p.path for p in self.result.problems} if once_per_path else set()
        new: list[Problem] = []
        for problem in problems:
            if problem.path in listed:
                continue
            if once_per_path:
                listed.add(problem.path)
            new.append(problem)
        if new:
            self.result.problems.extend(new)
            self.problems_added.emit(new)

    def clear(self) -> None:
        """Close everything."""
        self.result = ScanResult()
        self._order = None
        self._known.clear()
        self.current = None
        self.image = None
        self._render_cache = None
        self.cleared.emit()
        self.current_changed.emit(None)
        self.image_changed.emit(None)

    def images(self) -> list[Instance]:
        """All images in display order (patient, study, series, instance number)."""
        if self._order is None:
            order: list[Instance] = []
            for patient in sorted(self.result.patients.values(), key=patient_key):
                for study in sorted(patient.studies.values(), key=study_key):
                    for series in sorted(study.series.values(), key=series_key):
                        order.extend(
                            sorted((i for i in series.instances if i.is_image), key=instance_key)
                        )
            self._order = order
            self._index = {id(inst): i for i, inst in enumerate(order)}
        return self._order

    def index_of(self, inst: Instance | None) -> int:
        """Position of ``inst`` in :meth:`images` (-1 when absent)."""
        if inst is None:
            return -1
        self.images()
        return self._index.get(id(inst), -1)

    # -- selection --------------------------------------------------------------------------

    def set_current(self, inst: Instance | None) -> None:
        """Select an image; its display settings start from the image's defaults (the
        window/level too, unless :attr:`keep_window` and the reader chose one)."""
        if inst is self.current:
            return
        self.current = inst
        self.image = None
        self.frame = 0
        if not (self.keep_window and self.window is not None):
            self.window = None
            self.preset = "Header"
            self._header_index = 0
        self.invert = False
        self._render_cache = None
        self.current_changed.emit(inst)

    def step(self, delta: int) -> Instance | None:
        """Select the image ``delta`` places away (clamped at the ends); returns it."""
        images = self.images()
        if not images:
            return None
        index = self.index_of(self.current)
        target = 0 if index < 0 else min(max(index + delta, 0), len(images) - 1)
        self.set_current(images[target])
        return images[target]

    def go_to(self, position: int) -> Instance | None:
        """Select by position; negative counts from the end (``-1`` = last)."""
        images = self.images()
        if not images:
            return None
        self.set_current(images[position])
        return images[position]

    def set_image(self, image: DicomImage | None) -> None:
        """The decoded frame of the current image arrived (from the cache or a worker)."""
        self.image = image
        self._render_cache = None
        if image is not None:
            self.frame = image.frame
        self.image_changed.emit(image)

    def set_frame(self, frame: int) -> None:
        """Ask for another frame; the loader answers with :meth:`set_image`."""
        if self.current is None:
            return
        frame = min(max(int(frame), 0), max(self.current.n_frames - 1, 0))
        if frame != self.frame:
            self.frame = frame
            self.frame_changed.emit(frame)

    # -- display ----------------------------------------------------------------------------

    @property
    def effective_window(self) -> Window | None:
        if self.image is None:
            return None
        return self.window or self.image.default_window

    @property
    def effective_invert(self) -> bool:
        default = self.image.invert_default if self.image is not None else False
        return default != self.invert

    def set_window(self, window: Window | None, *, preset: str = "Custom") -> None:
        self.window = window
        self.preset = preset
        self.display_changed.emit()

    def apply_preset(self, name: str) -> Window | None:
        """Apply a preset from :data:`PRESET_NAMES`; ``"Header"`` again cycles header windows."""
        if self.image is None:
            return None
        if name == "Header":
            # Pressing the header key while a header window shows moves on to the next one.
            self._header_index = self._header_index + 1 if self.preset == "Header" else 0
        window = preset_window(self.image, name, header_index=self._header_index)
        self.set_window(window, preset=name)
        return window

    def toggle_invert(self) -> None:
        self.invert = not self.invert
        self.display_changed.emit()

    def set_equalize(self, method: str) -> None:
        if method not in EQUALIZE_CHOICES:
            raise ValueError(f"equalize must be one of {EQUALIZE_CHOICES}, not {method!r}")
        if method != self.equalize:
            self.equalize = method
            self.display_changed.emit()

    def reset_display(self) -> None:
        """Back to the image's own window, no inversion toggle, no enhancement."""
        self.window = None
        self.preset = "Header"
        self._header_index = 0
        self.invert = False
        self.equalize = "none"
        self.display_changed.emit()

    def render(self) -> np.ndarray | None:
        """Display pixels of the current frame with the current settings (uint8)."""
        image = self.image
        window = self.effective_window
        if image is None or window is None:
            return None
        key = (id(image), window, self.effective_invert, self.equalize)
        if self._render_cache is not None and self._render_cache[0] == key:
            return self._render_cache[1]
        out = render(image, window, invert=self.effective_invert, equalize=self.equalize)
        # Only the slow enhancement paths are worth remembering.
        self._render_cache = (key, out) if self.equalize != "none" else None
        return out

    # -- review -----------------------------------------------------------------------------

    def is_reviewed(self, inst: Instance) -> bool:
        return inst.sop_instance_uid in self.reviewed

    def set_reviewed(self, inst: Instance, reviewed: bool = True) -> None:
        uid = inst.sop_instance_uid
        if (uid in self.reviewed) == reviewed:
            return
        if reviewed:
            self.reviewed.add(uid)
        else:
            self.reviewed.discard(uid)
        self.reviewed_changed.emit(uid, reviewed)


__all__ = [
    "PRESET_NAMES",
    "ViewerState",
    "instance_key",
    "patient_key",
    "series_key",
    "study_key",
]
