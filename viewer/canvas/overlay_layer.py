"""DICOM overlay planes (groups 6000-601E) drawn on top of the image on the canvas.

:class:`OverlayLayer` is one RGBA :class:`pyqtgraph.ImageItem`, a child of the canvas's
ImageItem (as the boxes of :mod:`viewer.canvas.box_layers` are), so it lies in original image
pixels and follows zoom, rotation and flips. It is white and opaque where an overlay bit of the
frame on screen is set (as ``dcmj2pnm`` burns them) and transparent elsewhere. The planes come
from :func:`detector.imaging.overlays.read_overlays`; this module only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from detector.imaging.overlays import OverlayPlane, compose_mask

#: Stacking among the image's children: above the image, under every box and ruler.
OVERLAY_Z = -5


def overlay_rgba(mask: np.ndarray) -> np.ndarray:
    """A ``(rows, cols, 4)`` uint8 image: opaque white where ``mask`` is set, clear elsewhere."""
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask] = 255
    return rgba


def plane_text(plane: OverlayPlane) -> str:
    """One line describing ``plane``: group, type, size, origin, frames and description."""
    kind = {"G": "graphics", "R": "ROI"}.get(plane.type, plane.type)
    parts = [
        f"{plane.group:04X}",
        f"{kind} ({plane.type})",
        f"{plane.rows} x {plane.columns}",
        f"origin {plane.origin[0]}, {plane.origin[1]}",
    ]
    if not plane.all_frames:
        first = plane.first_frame + 1
        parts.append(f"frames {first}-{first + plane.frames - 1}")
    if plane.embedded:
        parts.append("in pixel data bit")
    if plane.description:
        parts.append(plane.description)
    return ", ".join(parts)


class OverlayLayer:
    """The overlay planes of the image on screen, one frame at a time.

    Parameters
    ----------
    parent_item : QtWidgets.QGraphicsItem
        The canvas's ImageItem; the overlay is its child.
    """

    def __init__(self, parent_item: QtWidgets.QGraphicsItem) -> None:
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setParentItem(parent_item)
        self.item.setZValue(OVERLAY_Z)
        self.item.setAutoDownsample(False)
        self.item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.item.setAcceptHoverEvents(False)
        self.item.setVisible(False)
        self._planes: tuple[OverlayPlane, ...] = ()
        self._shape: tuple[int, int] = (0, 0)
        self._wanted = True
        self._mask: np.ndarray | None = None

    @property
    def planes(self) -> tuple[OverlayPlane, ...]:
        """The planes of the image on screen."""
        return self._planes

    @property
    def shown_mask(self) -> np.ndarray | None:
        """The bool mask drawn now (None when nothing is drawn)."""
        return self._mask if self.item.isVisible() else None

    def set_planes(
        self, planes: tuple[OverlayPlane, ...], shape: tuple[int, int], frame: int
    ) -> None:
        """Another image: its planes, its size (rows, columns) and the frame on screen."""
        self._planes = tuple(planes)
        self._shape = (int(shape[0]), int(shape[1]))
        self.show_frame(frame)

    def show_frame(self, frame: int) -> None:
        """Draw the planes of 0-based image ``frame`` (nothing when it has none)."""
        mask = compose_mask(self._planes, frame, self._shape) if self._planes else None
        if mask is None or not mask.any():
            self._mask = None
            self.item.clear()
        else:
            self._mask = mask
            self.item.setImage(overlay_rgba(mask), autoLevels=False)
        self._update_visible()

    def clear(self) -> None:
        """No image: nothing drawn."""
        self._planes = ()
        self._mask = None
        self.item.clear()
        self._update_visible()

    def set_visible(self, on: bool) -> None:
        """Show or hide the overlays (kept across images)."""
        self._wanted = bool(on)
        self._update_visible()

    @property
    def wanted(self) -> bool:
        """Whether the reader wants the overlays shown."""
        return self._wanted

    def _update_visible(self) -> None:
        self.item.setVisible(self._wanted and self._mask is not None)
