"""Presentation states (GSPS) in the window: which apply to the image, choosing one, the default.

:class:`PresentationStates` finds, among the files opened (scanned as non-image instances), the
Grayscale Softcopy Presentation States that reference the image on screen, lists them in
View → Presentation states, and applies the chosen one: its window (Softcopy VOI LUT), its
Presentation LUT Shape, its spatial transformation (rotation, flip) and displayed area on the
canvas, and its graphic and text annotations as a :class:`viewer.canvas.gsps_layer.GspsLayer`.
``S`` applies the next state of the image, ``Shift+S`` returns to the image's own presentation
(its window, no rotation, no annotations). A state that cannot be read is listed once in the
Problems panel (one line, :class:`detector.gsps.read.GspsError`), never as a broken image.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from detector.files.scan import Instance, Problem
from detector.gsps.geometry import area_rect, canvas_orientation
from detector.gsps.model import PresentationState
from detector.gsps.present import presentation_window
from detector.gsps.read import GspsError, is_gsps, read_gsps
from viewer.canvas.gsps_layer import GspsLayer
from viewer.canvas.image_canvas import ImageCanvas
from viewer.state import ViewerState

#: The preset name the window control shows while a state's window is applied.
GSPS_PRESET = "GSPS"


class PresentationStates(QtCore.QObject):
    """The presentation states of the image on screen, and the one applied.

    Parameters
    ----------
    state : ViewerState
        The open files (presentation states are its non-image instances) and the display.
    canvas : ImageCanvas
        Rotated, flipped and ranged by a state; its ImageItem carries the annotations.
    show_message : callable
        ``(text[, msecs])``: one line for the status bar.
    """

    def __init__(
        self,
        state: ViewerState,
        canvas: ImageCanvas,
        show_message: Callable[..., object],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.canvas = canvas
        self.show_message = show_message
        self.layer = GspsLayer(canvas.image_item)
        self.active: PresentationState | None = None
        self._read: dict[str, PresentationState | None] = {}
        self.menu: QtWidgets.QMenu | None = None
        state.current_changed.connect(self._on_state_current_changed)
        state.image_changed.connect(self._on_state_image_changed)

    # -- actions ----------------------------------------------------------------------------

    def build_actions(self, add: Callable[..., QtGui.QAction]) -> None:
        """The two keys: next state of this image, the image's own presentation."""
        self.act_next = add("Apply next &presentation state (GSPS)", self.apply_next, ["S"])
        self.act_default = add(
            "Image's own presentation (no GSPS)", self.apply_default, ["Shift+S"]
        )

    def fill_menu(self, menu: QtWidgets.QMenu) -> None:
        """View → Presentation states: the states of the image on screen, rebuilt on show."""
        self.menu = menu.addMenu("Presentation &states")
        self.menu.aboutToShow.connect(self._rebuild_menu)
        self._rebuild_menu()

    def _rebuild_menu(self) -> None:
        menu = self.menu
        if menu is None:
            return
        menu.clear()
        menu.addAction(self.act_next)
        menu.addAction(self.act_default)
        menu.addSeparator()
        states = self.states_for(self.state.current)
        if not states:
            none = menu.addAction("(none references this image)")
            none.setEnabled(False)
        for pr in states:
            act = menu.addAction(pr.title())
            act.setCheckable(True)
            act.setChecked(pr is self.active)
            act.triggered.connect(lambda _=False, p=pr: self.apply(p))

    # -- which states -----------------------------------------------------------------------

    def states_for(self, inst: Instance | None) -> list[PresentationState]:
        """The readable presentation states among the open files that reference ``inst``."""
        if inst is None:
            return []
        out = []
        for candidate in self.state.result.instances(images_only=False):
            if candidate.is_image or not is_gsps(candidate.header):
                continue
            pr = self._parse(candidate)
            if pr is not None and pr.references(inst.sop_instance_uid):
                out.append(pr)
        return out

    def _parse(self, inst: Instance) -> PresentationState | None:
        if inst.path not in self._read:
            try:
                self._read[inst.path] = read_gsps(inst.header, inst.path)
            except GspsError as err:
                self._read[inst.path] = None
                self.state.add_problems([Problem(inst.path, err.reason)], once_per_path=True)
        return self._read[inst.path]

    # -- applying ---------------------------------------------------------------------------

    def apply_next(self) -> None:
        """Apply the image's next presentation state (after the one applied; the first)."""
        states = self.states_for(self.state.current)
        if not states or self.state.image is None:
            self.show_message("No presentation state references this image", 4000)
            return
        index = states.index(self.active) + 1 if self.active in states else 0
        self.apply(states[index % len(states)])

    def apply(self, pr: PresentationState) -> None:
        """Apply a state to the image on screen: window, inversion, view, annotations."""
        inst, image = self.state.current, self.state.image
        if inst is None or image is None:
            return
        uid, frame = inst.sop_instance_uid, self.state.frame + 1
        self.active = pr
        st = self.state
        window = presentation_window(pr, uid, frame)
        if window is not None:
            st.set_window(window, preset=GSPS_PRESET)
        else:
            st.set_window(None, preset="Header")
        if st.effective_invert != pr.inverse:
            st.toggle_invert()
        quarters, flip = canvas_orientation(pr.rotation, pr.flip)
        self.canvas.set_orientation(quarters, flip)
        self._show_area(pr, uid, frame, image.shape)
        self.layer.set_annotations(pr.annotations_for(uid, frame))
        self.show_message(f"Presentation state: {pr.title()} (Shift+S or R: the image's own)", 6000)

    def _show_area(
        self, pr: PresentationState, uid: str, frame: int, shape: tuple[int, int]
    ) -> None:
        area = pr.area_for(uid, frame)
        x0, y0, x1, y1 = area_rect(area, shape)
        item = self.canvas.image_item
        rect = item.mapRectToParent(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        self.canvas.vb.setRange(rect=rect, padding=0.0)
        if area is not None and area.size_mode == "MAGNIFY":
            self.canvas.set_zoom(area.magnification)

    def apply_default(self) -> None:
        """The image's own presentation: its window, no rotation or flip, no annotations."""
        was = self.active
        self.active = None
        self.layer.clear()
        self.state.reset_display()
        self.canvas.reset_view()
        if was is not None:
            self.show_message("The image's own presentation (S: a presentation state)", 4000)

    def forget(self) -> None:
        """R (reset window and view) also leaves the state: no annotations, none applied.

        The reset itself (window, rotation, zoom) is the display's; this drops what only the
        state added, so that nothing drawn is left over a view the state no longer sets.
        """
        if self.active is None and not self.layer.items:
            return
        self.active = None
        self.layer.clear()
        self.show_message("Reset: the image's own presentation (S: a presentation state)", 4000)

    # -- state events -----------------------------------------------------------------------

    def _on_state_current_changed(self, inst: Instance | None) -> None:
        if self.active is not None:
            self.active = None
            self.layer.clear()
            self.canvas.reset_view()

    def _on_state_image_changed(self, image: object) -> None:
        inst = self.state.current
        if image is None or inst is None:
            self.layer.clear()
            return
        if self.active is not None:
            frame = self.state.frame + 1
            self.layer.set_annotations(self.active.annotations_for(inst.sop_instance_uid, frame))
