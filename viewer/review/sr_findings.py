"""DICOM SRs among the opened files: their boxes over the image they reference, and import.

An SR (TID 1500) opened with the images, in a folder or dropped, is not an image: the scan lists
it as a non-image instance (never as a Problem). After each scan, :class:`SrFindings` reads the
SRs it has not read yet in a worker (:func:`detector.sr.read.read_sr`; a malformed one is one
line in the Problems panel), indexes their boxes by the SOPInstanceUID they reference, and
draws those of the image on screen on the :class:`viewer.canvas.sr_layer.SrLayer`.

**Shift+F** (Review → Show SR findings) shows or hides the layer; Review → Import SR findings
as ground truth (**Shift+I**) adds the boxes of the image on screen as ground-truth boxes through the review
controller: one undo step (Ctrl+Z removes them), existing ground truth is kept and an SR box
equal to one already there is not added twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets
from superqt.utils import WorkerBase

from detector.errors import PneumoViewError
from detector.files.scan import Instance, Problem
from detector.sr.read import SrFinding, SrReport, read_sr
from detector.types import xywh_to_xyxy
from viewer.canvas.sr_layer import SrLayer, sr_legend_html
from viewer.loading.scan_controller import start_worker
from viewer.review.controller import ReviewController
from viewer.state import ViewerState

#: The scan's word for an SR (:func:`detector.imaging.read.non_image_kind`).
SR_KIND = "structured report"
TOGGLE_KEY = "Shift+F"
IMPORT_KEY = "Shift+I"


def read_sr_files(paths: Iterable[str]) -> Iterator[tuple[str, SrReport | None, str]]:
    """``(path, report, "")`` per readable SR, ``(path, None, reason)`` per unusable one."""
    for path in paths:
        try:
            yield path, read_sr(path), ""
        except PneumoViewError as err:
            yield path, None, err.reason


class SrFindings(QtCore.QObject):
    """The SR layer of one window: reading, indexing, showing and importing SR boxes.

    Parameters
    ----------
    state : ViewerState
        The open files (SR instances among them) and the image on screen.
    review : ReviewController
        Imports go through it (``edit``), as every review edit does.
    layer : SrLayer
        Draws the boxes.
    show_message : callable
        Shows a status-bar line.

    Signals
    -------
    legend_changed()
        The SR layer's legend entry changed (SRs read, layer shown or hidden).
    read_finished()
        Every SR found so far has been read.
    """

    legend_changed = QtCore.Signal()
    read_finished = QtCore.Signal()

    def __init__(
        self,
        state: ViewerState,
        review: ReviewController,
        layer: SrLayer,
        show_message: Callable[[str], object],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.review = review
        self.layer = layer
        self.show_message = show_message
        self.reports: list[SrReport] = []
        self._by_uid: dict[str, list[SrFinding]] = {}
        self._seen: set[str] = set()
        self._worker: WorkerBase | None = None
        self._again = False
        self._closing = False
        state.current_changed.connect(lambda _inst: self.refresh())
        state.frame_changed.connect(lambda _frame: self.refresh())
        state.cleared.connect(self._on_cleared)

    # -- actions ----------------------------------------------------------------------------

    def build_actions(self, add: Callable[..., QtGui.QAction]) -> None:
        """The Review menu's toggle (Shift+F) and import actions."""
        self.act_show = add(
            "Show &SR findings", self.set_visible, [TOGGLE_KEY], checkable=True,
            tip="Boxes of DICOM SRs opened with the images, over the image they reference",
        )  # fmt: skip
        self.act_show.setChecked(True)
        self.act_import = add(
            "&Import SR findings as ground truth", self.import_current, [IMPORT_KEY],
            tip="Add the SR boxes of this image as ground truth (undo with Ctrl+Z)",
        )  # fmt: skip

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.addSeparator()
        menu.addActions([self.act_show, self.act_import])

    def legend(self) -> str:
        """The SR layer's legend entry (empty while no SR box is open)."""
        count = sum(len(v) for v in self._by_uid.values())
        return sr_legend_html(self.layer.visible, count, TOGGLE_KEY)

    def set_visible(self, on: bool) -> None:
        self.layer.set_visible(on)
        self.legend_changed.emit()

    # -- reading ----------------------------------------------------------------------------

    @property
    def is_reading(self) -> bool:
        """Whether SRs are being read now."""
        return self._worker is not None

    def scan_finished(self) -> None:
        """Read the SRs the last scan found (in a worker); later scans queue one more pass."""
        if self._worker is not None:
            self._again = True
            return
        todo = [
            inst.path
            for inst in self.state.result.instances(images_only=False)
            if inst.kind == SR_KIND and inst.path not in self._seen
        ]
        if not todo or self._closing:
            self.read_finished.emit()
            return
        self._seen.update(todo)
        self._worker = start_worker(
            read_sr_files,
            todo,
            connect={"yielded": self._on_read, "finished": self._on_worker_finished},
        )

    def _on_read(self, result: tuple[str, SrReport | None, str]) -> None:
        if self._closing:
            return
        path, report, reason = result
        if report is None:
            self.state.add_problems([Problem(path, reason)])
            return
        self.reports.append(report)
        for finding in report.findings:
            self._by_uid.setdefault(finding.sop_instance_uid, []).append(finding)
        self.refresh()
        self.legend_changed.emit()

    def _on_worker_finished(self) -> None:
        self._worker = None
        if self._again and not self._closing:
            self._again = False
            self.scan_finished()
        elif not self._closing:
            self.read_finished.emit()

    def shutdown(self) -> None:
        """Window closing: stop reading (the window awaits the worker)."""
        self._closing = True
        if self._worker is not None:
            self._worker.quit()

    def _on_cleared(self) -> None:
        self.reports.clear()
        self._by_uid.clear()
        self._seen.clear()
        self.layer.clear()
        self.legend_changed.emit()

    # -- showing and importing --------------------------------------------------------------

    def findings_for(self, inst: Instance | None, frame: int = 0) -> list[SrFinding]:
        """The SR boxes on one frame of an image (a box naming no frame is on every frame)."""
        if inst is None:
            return []
        found = self._by_uid.get(inst.sop_instance_uid, [])
        return [f for f in found if f.frame is None or f.frame == frame]

    def refresh(self) -> None:
        self.layer.set_findings(self.findings_for(self.state.current, self.state.frame))

    def import_current(self) -> int:
        """Add the SR boxes of the image on screen as ground truth; returns how many were added."""
        findings = self.findings_for(self.state.current, self.state.frame)
        key = self.review.current_key
        if key is None or not findings:
            self.show_message("No SR findings on this image to import")
            return 0
        origins = sorted({Path(r.path).name for r in self.reports if r.findings_for(
            self.state.current.sop_instance_uid if self.state.current else ""
        )})  # fmt: skip
        origin = origins[0] if len(origins) == 1 else "SR"
        boxes = [xywh_to_xyxy(f.xywh) for f in findings]
        added = self.review.edit(self.review.review.adopt_ground_truth, key, boxes, origin)
        if added is None:
            return 0  # refused: the controller said why
        self.review.refresh()
        same = len(boxes) - len(added)
        self.show_message(
            f"Added {len(added)} ground-truth box(es) from {origin}"
            + (f"; {same} already there" if same else "")
            + "; existing ground truth kept (Ctrl+Z undoes)"
        )
        return len(added)
