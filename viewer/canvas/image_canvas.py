"""The image canvas: a pyqtgraph ImageItem with window/level dragging, rulers and box overlays.

The canvas displays 8-bit pixels rendered by :mod:`detector.imaging.render` (levels are always 0..255;
pyqtgraph never picks levels itself). Everything drawn over the image (rulers, detection and
ground-truth boxes) is a child of the ImageItem, so it lives in original pixel coordinates and
follows zoom, pan, rotation and flips for free.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

TOOLS = ("pan", "window", "measure", "box")
DROP_HINT = "Drop DICOM files or folders here\nor use File \u2192 Open (Ctrl+O)"


class CanvasViewBox(pg.ViewBox):
    """ViewBox where the right button (or the left one in window mode) does window/level."""

    def __init__(self, canvas: ImageCanvas) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._canvas = canvas

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt/pyqtgraph override
        button = ev.button()
        canvas = self._canvas
        left = button == QtCore.Qt.MouseButton.LeftButton
        if button == QtCore.Qt.MouseButton.RightButton or (left and canvas.tool == "window"):
            ev.accept()
            canvas._window_drag(ev)
            return
        if left and canvas.tool == "measure":
            ev.accept()
            canvas._measure_drag(ev)
            return
        if left and canvas.tool == "box":
            ev.accept()
            canvas._box_drag(ev)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.accept()  # no context menu: the right button belongs to window/level
            return
        super().mouseClickEvent(ev)


class Ruler:
    """A distance line on the image, with its length in mm (or px without spacing)."""

    def __init__(self, canvas: ImageCanvas, start: QtCore.QPointF) -> None:
        self.canvas = canvas
        pen = pg.mkPen("#4fc3f7", width=2, cosmetic=True)
        self.roi = pg.LineSegmentROI([start, start], pen=pen, hoverPen=pg.mkPen("#ffffff", width=2))
        self.roi.setParentItem(canvas.image_item)
        self.label = pg.TextItem("", color="#4fc3f7", anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        self.label.setParentItem(canvas.image_item)
        self.roi.sigRegionChanged.connect(self.update_label)

    def endpoints(self) -> tuple[QtCore.QPointF, QtCore.QPointF]:
        """Both ends in image pixel coordinates (x = column, y = row)."""
        item = self.canvas.image_item
        a, b = (item.mapFromScene(p) for _name, p in self.roi.getSceneHandlePositions())
        return a, b

    def set_end(self, point: QtCore.QPointF) -> None:
        self.roi.movePoint(self.roi.getHandles()[1], point, coords="parent")

    def length(self) -> tuple[float, str]:
        """(length, unit): mm from the pixel spacing, else pixels."""
        a, b = self.endpoints()
        dx, dy = b.x() - a.x(), b.y() - a.y()
        spacing = self.canvas.spacing
        if spacing is None:
            return math.hypot(dx, dy), "px"
        row_mm, col_mm, _source = spacing
        return math.hypot(dx * col_mm, dy * row_mm), "mm"

    def text(self) -> str:
        value, unit = self.length()
        spacing = self.canvas.spacing
        if spacing is None:
            return f"{value:.1f} {unit} ({self.canvas.no_spacing_note})"
        suffix = " (imager)" if spacing[2] == "ImagerPixelSpacing" else ""
        return f"{value:.1f} {unit}{suffix}"

    def update_label(self) -> None:
        _a, b = self.endpoints()
        self.label.setText(self.text())
        self.label.setPos(b)

    def remove(self) -> None:
        # pyqtgraph gives each handle a parentless QMenu; delete them with the ruler.
        for handle in self.roi.getHandles():
            menu = getattr(handle, "menu", None)
            if menu is not None:
                menu.deleteLater()
        scene = self.roi.scene()
        for item in (self.roi, self.label):
            item.setParentItem(None)
            if scene is not None:
                scene.removeItem(item)


class ImageCanvas(pg.GraphicsView):
    """Displays one 8-bit image with zoom, pan, rotation, flips, rulers, boxes and overlays.

    Signals
    -------
    window_drag_started()
    window_dragged(float, float)
        Screen-pixel movement since the drag started (right = wider, down = higher level).
    window_drag_finished()
    cursor_moved(object)
        ``(row, col)`` of the original image under the mouse, or ``None`` off the image.
    view_changed()
        Zoom, pan, rotation or flip changed.
    painted()
        The first paint after :meth:`set_image` finished (for ``--screenshot`` and benchmarks).
    navigate_requested(int)
        Up (-1) / Down (+1) pressed while the canvas has focus.
    frame_step_requested(int)
        Left (-1) / Right (+1) pressed while the canvas has focus.
    box_drawn(tuple)
        A left-drag in the box tool ended: ``(x0, y0, x1, y1)`` in image pixels, clipped to
        the image. The tool then goes back to the one before it (one box per **B**).
    """

    window_drag_started = QtCore.Signal()
    window_dragged = QtCore.Signal(float, float)
    window_drag_finished = QtCore.Signal()
    cursor_moved = QtCore.Signal(object)
    view_changed = QtCore.Signal()
    painted = QtCore.Signal()
    navigate_requested = QtCore.Signal(int)
    frame_step_requested = QtCore.Signal(int)
    box_drawn = QtCore.Signal(tuple)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background="k")
        self.setAcceptDrops(False)  # drops go to the main window
        # Bilinear interpolation when zoomed: readers expect smooth, not blocky, magnification.
        self.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.vb = CanvasViewBox(self)
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(False)
        self.vb.addItem(self.image_item)
        self.rulers: list[Ruler] = []
        self._active_ruler: Ruler | None = None
        self.spacing: tuple[float, float, str] | None = None
        #: What a ruler says when there is no spacing (plain PNG/JPEG: "not DICOM: ...").
        self.no_spacing_note = "no pixel spacing"
        self.tool = "pan"
        self._tool_before_box = "pan"
        self._box_preview: QtWidgets.QGraphicsRectItem | None = None
        self.rotation = 0  # quarter turns clockwise
        self.flip_h = False
        self.flip_v = False
        self._paint_pending = False
        self._shape: tuple[int, int] | None = None
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.vb.sigTransformChanged.connect(self.view_changed)
        self.vb.sigRangeChanged.connect(self.view_changed)
        self._corners: dict[str, QtWidgets.QLabel] = {}
        for corner in ("top_left", "top_right", "bottom_left", "bottom_right"):
            label = QtWidgets.QLabel(self.viewport())
            label.setObjectName(f"overlay_{corner}")
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            align = (
                QtCore.Qt.AlignmentFlag.AlignRight
                if "right" in corner
                else QtCore.Qt.AlignmentFlag.AlignLeft
            )
            label.setAlignment(align | QtCore.Qt.AlignmentFlag.AlignTop)
            label.setStyleSheet(
                "QLabel { color: #f0f0f0; background: rgba(0, 0, 0, 110); padding: 3px 5px;"
                " font-family: 'DejaVu Sans', sans-serif; font-size: 11px; }"
            )
            label.hide()
            self._corners[corner] = label
        self.overlays_visible = True
        self._placeholder = QtWidgets.QLabel(DROP_HINT, self.viewport())
        self._placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("QLabel { color: #8a8a8a; font-size: 15px; }")
        self._placeholder.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    # -- image ------------------------------------------------------------------------------

    @property
    def has_image(self) -> bool:
        return self._shape is not None

    def set_image(
        self,
        display: np.ndarray,
        *,
        spacing: tuple[float, float, str] | None,
        no_spacing_note: str = "no pixel spacing",
    ) -> None:
        """Show a new image: view reset to fit, rulers cleared."""
        self.clear_rulers()
        self.spacing = spacing
        self.no_spacing_note = no_spacing_note
        self.rotation = 0
        self.flip_h = self.flip_v = False
        self._shape = (int(display.shape[0]), int(display.shape[1]))
        self._paint_pending = True
        self._placeholder.hide()
        self.update_pixels(display)
        self._apply_transform()
        self.fit()

    def update_pixels(self, display: np.ndarray) -> None:
        """New display pixels for the same image (window/level, invert, enhancement, frame)."""
        if self._shape != (int(display.shape[0]), int(display.shape[1])):
            self._shape = (int(display.shape[0]), int(display.shape[1]))
            self._apply_transform()
        self.image_item.setImage(display, autoLevels=False, levels=(0, 255))

    def clear_image(self, message: str | None = None) -> None:
        """Show no image, only ``message`` (the drop hint by default)."""
        self.clear_rulers()
        self.image_item.clear()
        self._shape = None
        self._placeholder.setText(message or DROP_HINT)
        self._placeholder.show()
        for label in self._corners.values():
            label.hide()

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt override
        keys = {
            QtCore.Qt.Key.Key_Up: (self.navigate_requested, -1),
            QtCore.Qt.Key.Key_Down: (self.navigate_requested, 1),
            QtCore.Qt.Key.Key_Left: (self.frame_step_requested, -1),
            QtCore.Qt.Key.Key_Right: (self.frame_step_requested, 1),
        }
        hit = keys.get(QtCore.Qt.Key(ev.key()))
        if hit is not None and not ev.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier:
            hit[0].emit(hit[1])
            ev.accept()
            return
        super().keyPressEvent(ev)

    def paintEvent(self, ev):  # noqa: N802 - Qt override
        super().paintEvent(ev)
        if self._paint_pending and self._shape is not None:
            self._paint_pending = False
            self.painted.emit()

    # -- view -------------------------------------------------------------------------------

    def image_rect(self) -> QtCore.QRectF:
        """The image's bounding box in view coordinates (after rotation and flips)."""
        return self.image_item.mapRectToParent(self.image_item.boundingRect())

    def fit(self) -> None:
        if self._shape is None:
            return
        self.vb.setRange(rect=self.image_rect(), padding=0.0)

    def zoom(self) -> float:
        """Screen pixels per image pixel, as drawn now.

        Read from the view box's size and its view range (what its next paint uses), not from
        pyqtgraph's ``viewPixelSize()``: that value is cached and goes stale when the window's
        layout resizes the view box after a fit (the overlay said 121% over an image drawn at
        130%, and 1:1 scaled by the stale value).
        """
        if self._shape is None:
            return 1.0
        width = self.vb.viewRect().width()
        return self.vb.rect().width() / width if width > 0 else 1.0

    def set_zoom(self, zoom: float) -> None:
        """Zoom about the view centre (1.0 = one image pixel per screen pixel), in one step."""
        if self._shape is None or zoom <= 0:
            return
        bounds, centre = self.vb.rect(), self.vb.viewRect().center()
        half_w, half_h = bounds.width() / zoom / 2.0, bounds.height() / zoom / 2.0
        self.vb.setRange(
            xRange=(centre.x() - half_w, centre.x() + half_w),
            yRange=(centre.y() - half_h, centre.y() + half_h),
            padding=0.0,
        )

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor)

    def rotate(self, quarter_turns: int) -> None:
        self.rotation = (self.rotation + quarter_turns) % 4
        self._apply_transform()
        self.fit()

    def toggle_flip_h(self) -> None:
        self.flip_h = not self.flip_h
        self._apply_transform()

    def toggle_flip_v(self) -> None:
        self.flip_v = not self.flip_v
        self._apply_transform()

    def set_orientation(self, quarter_turns: int, flip_h: bool, flip_v: bool = False) -> None:
        """Show the image rotated ``quarter_turns`` clockwise, then flipped (a presentation state)."""
        self.rotation = int(quarter_turns) % 4
        self.flip_h, self.flip_v = bool(flip_h), bool(flip_v)
        self._apply_transform()

    def reset_view(self) -> None:
        self.rotation = 0
        self.flip_h = self.flip_v = False
        self._apply_transform()
        self.fit()

    def _apply_transform(self) -> None:
        if self._shape is None:
            return
        rows, cols = self._shape
        cx, cy = cols / 2.0, rows / 2.0
        # Points are flipped in screen orientation after the rotation, so "flip horizontal"
        # always mirrors left-right as the reader sees it.
        t = QtGui.QTransform()
        t.translate(cx, cy)
        t.scale(-1.0 if self.flip_h else 1.0, -1.0 if self.flip_v else 1.0)
        t.rotate(90.0 * self.rotation)
        t.translate(-cx, -cy)
        self.image_item.setTransform(t)
        self.view_changed.emit()

    # -- tools ------------------------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if tool == "box" and self.tool != "box":
            self._tool_before_box = self.tool
        self.tool = tool
        cursor = {
            "pan": QtCore.Qt.CursorShape.OpenHandCursor,
            "window": QtCore.Qt.CursorShape.SizeAllCursor,
            "measure": QtCore.Qt.CursorShape.CrossCursor,
            "box": QtCore.Qt.CursorShape.CrossCursor,
        }[tool]
        self.viewport().setCursor(cursor)

    def _window_drag(self, ev) -> None:
        if ev.isStart():
            self.window_drag_started.emit()
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        self.window_dragged.emit(float(delta.x()), float(delta.y()))
        if ev.isFinish():
            self.window_drag_finished.emit()

    def _measure_drag(self, ev) -> None:
        if self._shape is None:
            return
        point = self.image_item.mapFromScene(ev.scenePos())
        if ev.isStart():
            start = self.image_item.mapFromScene(ev.buttonDownScenePos())
            self._active_ruler = Ruler(self, start)
            self.rulers.append(self._active_ruler)
        if self._active_ruler is not None:
            self._active_ruler.set_end(point)
        if ev.isFinish():
            self._active_ruler = None

    def _box_drag(self, ev) -> None:
        if self._shape is None:
            return
        start = self.image_item.mapFromScene(ev.buttonDownScenePos())
        point = self.image_item.mapFromScene(ev.scenePos())
        rows, cols = self._shape
        x0, x1 = sorted((min(max(start.x(), 0.0), cols), min(max(point.x(), 0.0), cols)))
        y0, y1 = sorted((min(max(start.y(), 0.0), rows), min(max(point.y(), 0.0), rows)))
        if self._box_preview is None:
            self._box_preview = QtWidgets.QGraphicsRectItem()
            self._box_preview.setPen(pg.mkPen("#34c759", width=2, cosmetic=True))
            self._box_preview.setParentItem(self.image_item)
        self._box_preview.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        if ev.isFinish():
            self._end_box_preview()
            self.set_tool(self._tool_before_box)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                self.box_drawn.emit((float(x0), float(y0), float(x1), float(y1)))

    def _end_box_preview(self) -> None:
        if self._box_preview is not None:
            scene = self._box_preview.scene()
            self._box_preview.setParentItem(None)
            if scene is not None:
                scene.removeItem(self._box_preview)
            self._box_preview = None

    def add_ruler(self, start: tuple[float, float], end: tuple[float, float]) -> Ruler:
        """Add a ruler between two image points given as (x = column, y = row)."""
        ruler = Ruler(self, QtCore.QPointF(*start))
        ruler.set_end(QtCore.QPointF(*end))
        self.rulers.append(ruler)
        return ruler

    def clear_rulers(self) -> None:
        for ruler in self.rulers:
            ruler.remove()
        self.rulers.clear()
        self._active_ruler = None

    def update_ruler_labels(self) -> None:
        for ruler in self.rulers:
            ruler.update_label()

    # -- overlays ---------------------------------------------------------------------------

    def set_overlay_text(self, texts: dict[str, str]) -> None:
        """Text of the four corners (keys ``top_left`` ... ``bottom_right``)."""
        for corner, label in self._corners.items():
            text = texts.get(corner, "")
            label.setText(text)
            label.adjustSize()
            label.setVisible(bool(text) and self.overlays_visible and self._shape is not None)
        self._place_corners()

    def set_corner_text(self, corner: str, text: str) -> None:
        label = self._corners[corner]
        label.setText(text)
        label.adjustSize()
        label.setVisible(bool(text) and self.overlays_visible and self._shape is not None)
        self._place_corners()

    def overlay_text(self, corner: str) -> str:
        return self._corners[corner].text()

    def set_overlays_visible(self, visible: bool) -> None:
        self.overlays_visible = visible
        for label in self._corners.values():
            label.setVisible(visible and bool(label.text()) and self._shape is not None)

    def resizeEvent(self, ev):  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        if not hasattr(self, "_placeholder"):
            return  # pyqtgraph resizes during its own __init__
        self._place_corners()
        self._placeholder.setGeometry(self.viewport().rect())
        self.view_changed.emit()  # the same view range now spans more or fewer screen pixels

    def _place_corners(self) -> None:
        w, h = self.viewport().width(), self.viewport().height()
        margin = 6
        for corner, label in self._corners.items():
            size = label.sizeHint()
            x = w - size.width() - margin if "right" in corner else margin
            y = h - size.height() - margin if "bottom" in corner else margin
            label.setGeometry(x, y, size.width(), size.height())

    # -- cursor -----------------------------------------------------------------------------

    def _on_scene_mouse_moved(self, pos: QtCore.QPointF) -> None:
        if self._shape is None:
            return
        point = self.image_item.mapFromScene(pos)
        col, row = math.floor(point.x()), math.floor(point.y())
        rows, cols = self._shape
        self.cursor_moved.emit((row, col) if 0 <= row < rows and 0 <= col < cols else None)

    def leaveEvent(self, ev):  # noqa: N802 - Qt override
        super().leaveEvent(ev)
        self.cursor_moved.emit(None)
