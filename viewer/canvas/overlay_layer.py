"""DICOM overlay planes (groups 6000-601E) drawn on top of the image on the canvas.

:class:`OverlayLayer` is one RGBA :class:`pyqtgraph.ImageItem`, a child of the canvas's
ImageItem (as the boxes of :mod:`viewer.canvas.box_layers` are), so it lies in original image
pixels and follows zoom, rotation and flips. It draws the planes of the frame on screen as
``dcmj2pnm`` burns them (:func:`detector.imaging.overlays.draw_planes`): a graphics plane is
opaque white where its bits are set; an ROI plane leaves its region clear and covers the rest
of its rectangle with black at 15/16 opacity, so the image there is dimmed to 1/16. Elsewhere
the layer is transparent. The planes come from :func:`detector.imaging.overlays.read_overlays`
(high-bit planes included); this module only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from detector.imaging.overlays import ROI_DIM_BITS, OverlayPlane, place_plane

#: Stacking among the image's children: above the image, under every box and ruler.
OVERLAY_Z = -5


def overlay_rgba(
    planes: tuple[OverlayPlane, ...], frame: int, shape: tuple[int, int]
) -> np.ndarray | None:
    """The ``(rows, cols, 4)`` uint8 layer drawn over ``frame``, or None when it draws nothing.

    Composited over a display value ``d`` the layer gives ``d * keep + add``, built plane by
    plane in group order as :func:`detector.imaging.overlays.draw_planes` burns them: a
    graphics plane sets ``keep = 0, add = 255`` under its set bits; an ROI plane divides both
    by 16 outside its region (inside its rectangle). Then alpha = ``1 - keep`` and the colour is
    ``add / alpha``.
    """
    keep = np.ones(shape, dtype=np.float32)
    add = np.zeros(shape, dtype=np.float32)
    dim = np.float32(1 / (1 << ROI_DIM_BITS))
    drawn = False
    for plane in planes:
        placed = place_plane(plane, frame, shape)
        if placed is None:
            continue
        where, mask = placed
        k, a = keep[where], add[where]
        if plane.type == "R":
            k[~mask] *= dim
            a[~mask] *= dim
        else:
            k[mask] = 0.0
            a[mask] = 255.0
        drawn = drawn or plane.type == "R" or bool(mask.any())
    if not drawn:
        return None
    alpha = 1.0 - keep
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    covered = alpha > 0
    grey = np.rint(add[covered] / alpha[covered]).clip(0, 255).astype(np.uint8)
    rgba[covered, :3] = grey[:, None]
    rgba[..., 3] = np.rint(alpha * 255.0).astype(np.uint8)
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
        """Where the layer covers the image now (None when nothing is drawn)."""
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
        rgba = overlay_rgba(self._planes, frame, self._shape) if self._planes else None
        if rgba is None or not rgba[..., 3].any():
            self._mask = None
            self.item.clear()
        else:
            self._mask = rgba[..., 3] > 0
            self.item.setImage(rgba, autoLevels=False)
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
