"""Boxes read from DICOM SRs (TID 1500) drawn over the image as a layer of their own.

:class:`SrLayer` draws what it is given (:class:`detector.sr.read.SrFinding` records of the image
on screen) as dash-dot rectangles in :data:`SR_COLOUR` (azure: apart from ground truth yellow,
predictions red and reviewer green), each with a small caption (``SR`` and the score, or the
source). Items are children of the canvas's ImageItem, so they lie in original image pixels and
follow zoom, rotation and flips, as :mod:`viewer.canvas.box_layers` does. They take no mouse
input: an SR is someone else's report, read-only until it is imported as ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from detector.sr.read import SrFinding
from viewer.canvas.box_layers import CAPTION_FILL

SR_COLOUR = "#1e90ff"
SR_LAYER_NAME = "SR findings"
#: Above the image and its overlay planes, under the editable boxes (z 0) and their captions.
SR_Z = -2

_SOURCE_TEXT = {"model": "model", "reviewer": "reader", "ground_truth": "GT"}


def finding_caption(finding: SrFinding) -> str:
    """``"SR 0.83"`` for a scored box, else ``"SR GT"`` / ``"SR reader"`` / ``"SR"``."""
    if finding.score is not None:
        return f"SR {finding.score:.2f}"
    text = _SOURCE_TEXT.get(finding.source, "")
    return f"SR {text}" if text else "SR"


def sr_legend_html(visible: bool, count: int, key: str = "") -> str:
    """The legend entry of the SR layer (greyed out when hidden); empty when no SR is open."""
    if count == 0:
        return ""
    colour = SR_COLOUR if visible else "#777777"
    shortcut = f" ({key})" if key else ""
    return (
        f"<span style='color:{colour}'>\u25a0</span>&nbsp;"
        f"<span style='color:{'inherit' if visible else '#777777'}'>"
        f"{SR_LAYER_NAME}{shortcut}</span>"
    )


class SrLayer:
    """The SR boxes of the image on screen.

    Parameters
    ----------
    parent_item : QtWidgets.QGraphicsItem
        The canvas's ImageItem; every box is its child.
    """

    def __init__(self, parent_item: QtWidgets.QGraphicsItem) -> None:
        self.parent_item = parent_item
        self._visible = True
        self._findings: tuple[SrFinding, ...] = ()
        self._items: list[tuple[QtWidgets.QGraphicsRectItem, pg.TextItem]] = []

    @property
    def visible(self) -> bool:
        """Whether the reader wants the layer shown."""
        return self._visible

    @property
    def findings(self) -> tuple[SrFinding, ...]:
        """The boxes given for the image on screen."""
        return self._findings

    def shown_rects(self) -> list[tuple[float, float, float, float]]:
        """``(x, y, w, h)`` of every box drawn and visible now (image pixels)."""
        out = []
        for rect_item, _label in self._items:
            if rect_item.isVisible():
                r = rect_item.rect()
                out.append((r.x(), r.y(), r.width(), r.height()))
        return out

    def set_findings(self, findings: Sequence[SrFinding]) -> None:
        """Draw these boxes (those of the image on screen) instead of the previous ones."""
        self.clear()
        self._findings = tuple(findings)
        colour = QtGui.QColor(SR_COLOUR)
        pen = pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DashDotLine, cosmetic=True)
        for finding in self._findings:
            x, y, w, h = finding.xywh
            rect_item = QtWidgets.QGraphicsRectItem(QtCore.QRectF(x, y, w, h))
            rect_item.setPen(pen)
            rect_item.setParentItem(self.parent_item)
            rect_item.setZValue(SR_Z)
            rect_item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
            label = pg.TextItem(
                finding_caption(finding),
                color=colour,
                anchor=(1, 0),
                fill=pg.mkBrush(*CAPTION_FILL),
            )
            label.setParentItem(self.parent_item)
            label.setPos(x + w, y + h)
            label.setZValue(SR_Z)
            self._items.append((rect_item, label))
        self._apply_visible()

    def clear(self) -> None:
        """Remove every drawn box."""
        for rect_item, label in self._items:
            for item in (rect_item, label):
                item.setParentItem(None)
                scene = item.scene()
                if scene is not None:
                    scene.removeItem(item)
        self._items.clear()
        self._findings = ()

    def set_visible(self, on: bool) -> None:
        """Show or hide the layer (kept across images)."""
        self._visible = bool(on)
        self._apply_visible()

    def _apply_visible(self) -> None:
        for rect_item, label in self._items:
            rect_item.setVisible(self._visible)
            label.setVisible(self._visible)
