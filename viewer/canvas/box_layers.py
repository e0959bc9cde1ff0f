"""Boxes on the image: ground truth, predictions and reviewer boxes as editable pyqtgraph ROIs.

:class:`BoxLayers` only renders what it is given (:class:`BoxView` records made from the review
model by :mod:`viewer.review.controller`) and reports what the reader does with the mouse: a
click selects (``selected``), a drag moves and the corner handles resize; the new geometry is
reported once, on release (``edited``, from pyqtgraph's ``sigRegionChangeFinished``), so one drag
is one undo step. It never changes the model itself: the controller applies the edit and the
model's event brings the new geometry back here.

A *struck* box (``BoxView.struck``: rejected or deleted on the image on screen) stays drawn,
dimmed, dashed and crossed by a diagonal line, until the image is left, so the reader sees what
changed; it cannot be selected, moved or reached with Tab.

All items are children of the canvas's ImageItem, so they are in original image pixels and
follow zoom, rotation and flips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

#: Layer kinds, as in the review model.
GROUND_TRUTH = "ground_truth"
PREDICTION = "prediction"
REVIEWER = "reviewer"
KINDS: tuple[str, ...] = (GROUND_TRUTH, PREDICTION, REVIEWER)

#: Colour of each layer (the seed studies' habit: ground truth yellow, prediction red).
COLOURS: dict[str, str] = {GROUND_TRUTH: "#ffd400", PREDICTION: "#ff3b30", REVIEWER: "#34c759"}
#: Names in the legend.
LAYER_NAMES: dict[str, str] = {
    GROUND_TRUTH: "ground truth",
    PREDICTION: "predictions",
    REVIEWER: "reviewer",
}
SELECTED_COLOUR = "#ffffff"
#: Opacity (0-255) of a struck (rejected / deleted) box's outline and strike line.
STRUCK_ALPHA = 110
#: Caption backing: dark, mostly opaque, so the text reads on bright lung and on white bone.
CAPTION_FILL = (0, 0, 0, 190)
#: Where each layer's caption sits, so the captions of boxes that share an edge or a corner
#: (a matched pair in compare mode) never cover each other: ``(corner, anchor)`` with corner
#: 0/1 picking x0/x1 and y0/y1 and the TextItem anchor. Ground truth above the top-left
#: corner, predictions below the bottom-left corner, reviewer boxes above the top-right.
CAPTION_PLACES: dict[str, tuple[tuple[int, int], tuple[float, float]]] = {
    GROUND_TRUTH: ((0, 0), (0.0, 1.0)),
    PREDICTION: ((0, 1), (0.0, 0.0)),
    REVIEWER: ((1, 0), (1.0, 1.0)),
}


@dataclass(frozen=True)
class BoxView:
    """What one drawn box shows.

    ``caption`` is drawn above the box (the score of a prediction, a comparison mark such as
    ``"missed"``); ``dashed`` draws it with a dashed line (e.g. a missed ground-truth box);
    ``struck`` draws a box just rejected or deleted: dimmed, dashed and struck through, not
    selectable.
    """

    box_id: str
    kind: str
    xyxy: tuple[float, float, float, float]
    caption: str = ""
    dashed: bool = False
    editable: bool = True
    struck: bool = False


class _BoxItem:
    """One ROI and its caption."""

    def __init__(self, layers: BoxLayers, view: BoxView) -> None:
        x0, y0, x1, y1 = view.xyxy
        self.view = view
        self.roi = pg.ROI([x0, y0], [x1 - x0, y1 - y0], movable=view.editable, removable=False)
        self.roi.setParentItem(layers.parent_item)
        if view.editable:
            for pos, centre in (
                ([1, 1], [0, 0]),
                ([0, 0], [1, 1]),
                ([1, 0], [0, 1]),
                ([0, 1], [1, 0]),
            ):
                self.roi.addScaleHandle(pos, centre)
        self.label = pg.TextItem("", anchor=(0, 1), fill=pg.mkBrush(*CAPTION_FILL))
        self.label.setParentItem(layers.parent_item)
        self.strike = QtWidgets.QGraphicsLineItem()
        self.strike.setParentItem(layers.parent_item)
        self.strike.setVisible(False)
        self.label.setZValue(20)  # captions above every box outline
        # The item is reused for other boxes (see BoxLayers._take): look the id up each time.
        self.roi.sigClicked.connect(lambda _roi, _ev: layers._on_clicked(self.view.box_id))
        self.roi.sigRegionChangeFinished.connect(lambda _roi: layers._on_finished(self.view.box_id))
        self.roi.sigRegionChanged.connect(lambda _roi: self._place_label())
        self.apply(view, selected=False)

    def apply(self, view: BoxView, *, selected: bool) -> None:
        self.view = view
        x0, y0, x1, y1 = view.xyxy
        if self.xyxy() != view.xyxy:
            self.roi.setPos((x0, y0), update=False, finish=False)
            self.roi.setSize((x1 - x0, y1 - y0), update=True, finish=False)
        colour = QtGui.QColor(SELECTED_COLOUR if selected else COLOURS.get(view.kind, "#cccccc"))
        dashed = view.dashed or view.struck
        style = QtCore.Qt.PenStyle.DashLine if dashed else QtCore.Qt.PenStyle.SolidLine
        width = 3 if selected else 2
        if view.struck:
            colour.setAlpha(STRUCK_ALPHA)
        # A struck box takes no clicks and lies under the live ones.
        buttons = QtCore.Qt.MouseButton.LeftButton
        self.roi.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton if view.struck else buttons)
        self.roi.setZValue(-1 if view.struck else 0)
        pen = pg.mkPen(colour, width=width, style=style, cosmetic=True)
        self.roi.setPen(pen)
        self.roi.hoverPen = (
            pen if view.struck else pg.mkPen(SELECTED_COLOUR, width=2, cosmetic=True)
        )
        self.strike.setPen(pg.mkPen(colour, width=1, cosmetic=True))
        # The caption keeps its layer's colour (selection shows on the outline), faint if struck.
        caption = QtGui.QColor(COLOURS.get(view.kind, "#cccccc"))
        if view.struck:
            caption.setAlpha(STRUCK_ALPHA)
        self.label.setText(view.caption, color=caption)
        self.label.border = pg.mkPen(caption, width=1)
        self.label.setAnchor(CAPTION_PLACES.get(view.kind, ((0, 0), (0.0, 1.0)))[1])
        self.label.setVisible(bool(view.caption) and self.roi.isVisible())
        self._place_label()

    def xyxy(self) -> tuple[float, float, float, float]:
        pos, size = self.roi.pos(), self.roi.size()
        x0, y0 = float(pos.x()), float(pos.y())
        x1, y1 = x0 + float(size.x()), y0 + float(size.y())
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def _place_label(self) -> None:
        x0, y0, x1, y1 = self.xyxy()
        (cx, cy), _anchor = CAPTION_PLACES.get(self.view.kind, ((0, 0), (0.0, 1.0)))
        self.label.setPos(x1 if cx else x0, y1 if cy else y0)
        self.strike.setLine(x0, y1, x1, y0)
        self.strike.setVisible(self.view.struck and self.roi.isVisible())

    def set_visible(self, visible: bool) -> None:
        self.roi.setVisible(visible)
        self.label.setVisible(visible and bool(self.view.caption))
        self.strike.setVisible(visible and self.view.struck)

    def remove(self) -> None:
        for handle in self.roi.getHandles():
            menu = getattr(handle, "menu", None)
            if menu is not None:
                menu.deleteLater()
        for item in (self.roi, self.label, self.strike):
            scene = item.scene()
            item.setParentItem(None)
            if scene is not None:
                scene.removeItem(item)


class BoxLayers(QtCore.QObject):
    """The three box layers over the canvas image.

    Signals
    -------
    selected(object)
        The reader clicked a box (its id), or the selection was cleared (``None``).
    edited(str, tuple)
        A drag or resize ended: ``(box id, (x0, y0, x1, y1))`` in image pixels.
    """

    selected = QtCore.Signal(object)
    edited = QtCore.Signal(str, tuple)

    def __init__(self, parent_item: pg.ImageItem, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.parent_item = parent_item
        self._items: dict[str, _BoxItem] = {}
        #: Hidden items kept for reuse: making an ROI with its handles costs milliseconds.
        self._spare: list[_BoxItem] = []
        self._order: list[str] = []
        self._visible = dict.fromkeys(KINDS, True)
        self.selected_id: str | None = None

    # -- contents ---------------------------------------------------------------------------

    def show_boxes(self, views: Iterable[BoxView]) -> None:
        """Make the drawn boxes exactly ``views`` (kept items are updated, not re-created)."""
        wanted = {v.box_id: v for v in views}
        for box_id in [i for i in self._items if i not in wanted]:
            self._release(self._items.pop(box_id))
        for box_id, view in wanted.items():
            item = self._items.get(box_id)
            if item is not None and item.view.editable != view.editable:
                self._release(self._items.pop(box_id))
                item = None
            if item is None:
                item = self._items[box_id] = self._take(view)
            item.apply(view, selected=box_id == self.selected_id)
            item.set_visible(self._visible.get(view.kind, True))
        self._order = list(wanted)
        if self.selected_id is not None and (
            self.selected_id not in wanted or wanted[self.selected_id].struck
        ):
            self.select(None)

    def _take(self, view: BoxView) -> _BoxItem:
        for i, spare in enumerate(self._spare):
            if spare.view.editable == view.editable:
                del self._spare[i]
                spare.view = view
                return spare
        return _BoxItem(self, view)

    def _release(self, item: _BoxItem) -> None:
        item.set_visible(False)
        self._spare.append(item)

    def clear(self) -> None:
        """Remove every box (and the spare items: their handle menus are parentless)."""
        self.show_boxes(())
        for item in self._spare:
            item.remove()
        self._spare.clear()

    def views(self, kind: str | None = None) -> list[BoxView]:
        """What is drawn (all layers, or one), visible or not."""
        return [
            self._items[i].view
            for i in self._order
            if kind is None or self._items[i].view.kind == kind
        ]

    def captions(self) -> dict[str, pg.TextItem]:
        """The caption item of each drawn box (by box id), for tests and screenshots."""
        return {box_id: item.label for box_id, item in self._items.items()}

    def drawn_xyxy(self, kind: str) -> list[tuple[float, float, float, float]]:
        """Geometry of the visible boxes of one layer (not the struck ones), from the ROIs."""
        return [
            self._items[i].xyxy()
            for i in self._order
            if self._items[i].view.kind == kind
            and self._items[i].roi.isVisible()
            and not self._items[i].view.struck
        ]

    def struck_ids(self) -> list[str]:
        """Ids of the struck boxes drawn (rejected / deleted on this image), visible or not."""
        return [i for i in self._order if self._items[i].view.struck]

    def is_struck_drawn(self, box_id: str) -> bool:
        """``box_id`` is drawn struck through (its dimmed outline and its strike line shown)."""
        item = self._items.get(box_id)
        return (
            item is not None
            and item.view.struck
            and item.roi.isVisible()
            and item.strike.isVisible()
            and item.roi.pen.color().alpha() == STRUCK_ALPHA
        )

    def roi(self, box_id: str) -> pg.ROI:
        """The ROI drawing ``box_id`` (tests and the benchmark drive it like a mouse would)."""
        return self._items[box_id].roi

    # -- visibility -------------------------------------------------------------------------

    def layer_visible(self, kind: str) -> bool:
        return self._visible[kind]

    def visibility(self) -> dict[str, bool]:
        """Layer kind -> shown."""
        return dict(self._visible)

    def set_layer_visible(self, kind: str, visible: bool) -> None:
        if kind not in self._visible:
            raise ValueError(f"unknown box layer {kind!r}; expected one of {KINDS}")
        self._visible[kind] = visible
        for item in self._items.values():
            if item.view.kind == kind:
                item.set_visible(visible)
        if not visible and self.selected_id is not None:
            item = self._items.get(self.selected_id)
            if item is not None and item.view.kind == kind:
                self.select(None)

    def visible_ids(self, kind: str | None = None) -> list[str]:
        """Ids of the live boxes the reader can see (of one layer, or all), in drawing order.

        What Tab walks through: struck boxes are left out.
        """
        return [
            i
            for i in self._order
            if self._items[i].roi.isVisible()
            and not self._items[i].view.struck
            and (kind is None or self._items[i].view.kind == kind)
        ]

    # -- selection --------------------------------------------------------------------------

    def select(self, box_id: str | None) -> None:
        """Select a drawn live box (a struck or unknown id clears the selection)."""
        if box_id is not None and (box_id not in self._items or self._items[box_id].view.struck):
            box_id = None
        previous, self.selected_id = self.selected_id, box_id
        for i in {previous, box_id} - {None}:
            item = self._items.get(str(i))
            if item is not None:
                item.apply(item.view, selected=i == box_id)
        if previous != box_id:
            self.selected.emit(box_id)

    def select_step(self, step: int) -> str | None:
        """Select the next (``+1``) or previous (``-1``) visible box, wrapping around."""
        ids = self.visible_ids()
        if not ids:
            self.select(None)
            return None
        if self.selected_id in ids:
            index = (ids.index(self.selected_id) + step) % len(ids)
        else:
            index = 0 if step > 0 else len(ids) - 1
        self.select(ids[index])
        return ids[index]

    # -- mouse ------------------------------------------------------------------------------

    def _on_clicked(self, box_id: str) -> None:
        self.select(box_id)

    def _on_finished(self, box_id: str) -> None:
        item = self._items.get(box_id)
        if item is None:
            return
        xyxy = item.xyxy()
        if xyxy != item.view.xyxy:
            self.select(box_id)
            self.edited.emit(box_id, xyxy)


def legend_html(
    visible: dict[str, bool] | None = None, keys: Sequence[tuple[str, str]] = ()
) -> str:
    """Rich-text legend: a coloured swatch per layer, greyed out when the layer is hidden."""
    shortcut = dict(keys)
    parts = []
    for kind in KINDS:
        on = True if visible is None else visible.get(kind, True)
        colour = COLOURS[kind] if on else "#777777"
        key = f" ({shortcut[kind]})" if kind in shortcut else ""
        parts.append(
            f"<span style='color:{colour}'>\u25a0</span>&nbsp;"
            f"<span style='color:{'inherit' if on else '#777777'}'>{LAYER_NAMES[kind]}{key}</span>"
        )
    return "&nbsp;&nbsp; ".join(parts)
