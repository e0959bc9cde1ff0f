"""The graphic and text annotations of a presentation state, drawn on the image.

:class:`GspsLayer` draws :class:`detector.gsps.model.Annotation` records as children of the
canvas's ImageItem (as the boxes and overlay planes are), so they lie in image pixels and
follow zoom, rotation and flips. Graphics are cosmetic pens (one screen pixel wide at any
zoom); texts keep their size and stay upright on a rotated image
(``ItemIgnoresTransformations``), at their bounding box's top-left corner or their anchor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from detector.gsps.model import Annotation, Graphic

#: Above the image and its overlay planes, under the review's boxes.
GSPS_Z = -4
#: Annotations in a colour of their own (the boxes are yellow, red and green).
GSPS_COLOR = QtGui.QColor(80, 200, 255)


def graphic_path(graphic: Graphic) -> QtGui.QPainterPath:
    """The outline of one graphic object in image pixels (PS3.3 C.10.5.1.2)."""
    path = QtGui.QPainterPath()
    pts = [QtCore.QPointF(x, y) for x, y in graphic.points]
    if graphic.kind == "POINT":
        for p in pts:
            path.addEllipse(p, 1.5, 1.5)
    elif graphic.kind == "CIRCLE":
        centre, edge = pts[0], pts[1]
        r = math.hypot(edge.x() - centre.x(), edge.y() - centre.y())
        path.addEllipse(centre, r, r)
    elif graphic.kind == "ELLIPSE":
        # Major axis end points, then minor axis end points.
        a0, a1, b0, b1 = pts[:4]
        centre = (a0 + a1) / 2.0
        major = math.hypot(a1.x() - a0.x(), a1.y() - a0.y()) / 2.0
        minor = math.hypot(b1.x() - b0.x(), b1.y() - b0.y()) / 2.0
        angle = math.degrees(math.atan2(a1.y() - a0.y(), a1.x() - a0.x()))
        ellipse = QtGui.QPainterPath()
        ellipse.addEllipse(QtCore.QPointF(0.0, 0.0), major, minor)
        t = QtGui.QTransform()
        t.translate(centre.x(), centre.y())
        t.rotate(angle)
        path.addPath(t.map(ellipse))
    elif graphic.kind == "INTERPOLATED" and len(pts) > 2:
        # A Catmull-Rom curve through the points (the standard leaves the curve to the viewer).
        path.moveTo(pts[0])
        for i in range(len(pts) - 1):
            p0, p1, p2 = pts[max(i - 1, 0)], pts[i], pts[i + 1]
            p3 = pts[min(i + 2, len(pts) - 1)]
            path.cubicTo(p1 + (p2 - p0) / 6.0, p2 - (p3 - p1) / 6.0, p2)
    else:
        path.moveTo(pts[0])
        for p in pts[1:]:
            path.lineTo(p)
    return path


class GspsLayer:
    """The annotations of the presentation state applied to the image on screen.

    Parameters
    ----------
    parent_item : QtWidgets.QGraphicsItem
        The canvas's ImageItem; every annotation item is its child.
    """

    def __init__(self, parent_item: QtWidgets.QGraphicsItem) -> None:
        self.parent_item = parent_item
        self.items: list[QtWidgets.QGraphicsItem] = []

    @property
    def texts(self) -> list[str]:
        """The texts drawn now."""
        return [i.text() for i in self.items if isinstance(i, QtWidgets.QGraphicsSimpleTextItem)]

    @property
    def paths(self) -> list[QtWidgets.QGraphicsPathItem]:
        """The graphic items drawn now."""
        return [i for i in self.items if isinstance(i, QtWidgets.QGraphicsPathItem)]

    def set_annotations(self, annotations: Sequence[Annotation]) -> None:
        """Draw these annotations (replacing the ones drawn)."""
        self.clear()
        pen = QtGui.QPen(GSPS_COLOR)
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        fill = QtGui.QColor(GSPS_COLOR)
        fill.setAlpha(70)
        for note in annotations:
            for graphic in note.graphics:
                item = QtWidgets.QGraphicsPathItem(graphic_path(graphic), self.parent_item)
                item.setPen(pen)
                if graphic.filled:
                    item.setBrush(QtGui.QBrush(fill))
                self._add(item)
            for text in note.texts:
                where = text.box[0] if text.box is not None else text.anchor
                if where is None or not text.text:
                    continue
                label = QtWidgets.QGraphicsSimpleTextItem(text.text, self.parent_item)
                label.setBrush(QtGui.QBrush(GSPS_COLOR))
                label.setFlag(
                    QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True
                )
                label.setPos(QtCore.QPointF(*where))
                self._add(label)

    def _add(self, item: QtWidgets.QGraphicsItem) -> None:
        item.setZValue(GSPS_Z)
        item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        item.setAcceptHoverEvents(False)
        self.items.append(item)

    def clear(self) -> None:
        """Nothing drawn."""
        for item in self.items:
            scene = item.scene()
            if scene is not None:
                scene.removeItem(item)
            item.setParentItem(None)
        self.items = []
