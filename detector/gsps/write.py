"""Writing the reviewed boxes of one image as a GSPS (highdicom), for Weasis, OHIF and PACS.

One graphic layer (:data:`LAYER`); per box a closed POLYLINE (five points, the first repeated)
in PIXEL units and a text object anchored at the box's top-left corner with its source and
score; the image's own VOI (highdicom copies the window or VOI LUT of the referenced image);
Presentation LUT Shape from the image (INVERSE for MONOCHROME1). A reviewed image without boxes
gets a state with no annotation (its window only), so that every reviewed image has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from detector.imaging.dicom_write import PATIENT_STUDY_COPIED

#: The graphic layer of the reviewed boxes.
LAYER = "PNEUMOVIEW"
#: Content Label of the written states (a DICOM Code String).
CONTENT_LABEL = "PNEUMOVIEW"
#: Series Number of the written states.
SERIES_NUMBER = 9901


@dataclass(frozen=True)
class BoxNote:
    """One box to write: ``xywh`` in image pixels and the text shown with it."""

    xywh: tuple[float, float, float, float]
    text: str


def box_polyline(xywh: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
    """The closed POLYLINE of a box, clipped to the image: ``(5, 2)`` float32 ``(x, y)``."""
    x, y, w, h = xywh
    rows, cols = shape
    x0, y0 = min(max(x, 0.0), cols), min(max(y, 0.0), rows)
    x1, y1 = min(max(x + w, 0.0), cols), min(max(y + h, 0.0), rows)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


def boxes_to_gsps(
    image: Dataset,
    boxes: Sequence[BoxNote],
    *,
    frame: int = 0,
    series_uid: str | None = None,
    instance_number: int = 1,
    description: str = "PneumoView review",
) -> Dataset:
    """A Grayscale Softcopy Presentation State of one image's boxes.

    Parameters
    ----------
    image : Dataset
        The image's header (no pixel data needed).
    boxes : sequence of BoxNote
        The boxes (may be empty: a state with the image's window only).
    frame : int
        0-based frame of a multi-frame image the boxes belong to.

    Raises
    ------
    ValueError
        The image cannot carry a GSPS (not one sample per pixel, no UIDs, no size).
    """
    import highdicom as hd

    ref = _complete(image)
    rows, cols = int(ref.Rows), int(ref.Columns)
    layer = hd.pr.GraphicLayer(layer_name=LAYER, order=1, description="reviewed boxes")
    graphics = []
    texts = []
    for note in boxes:
        line = box_polyline(note.xywh, (rows, cols))
        graphics.append(
            hd.pr.GraphicObject(
                graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
                graphic_data=line,
                units=hd.pr.AnnotationUnitsValues.PIXEL,
            )
        )
        texts.append(
            hd.pr.TextObject(
                text_value=note.text[:64],
                units=hd.pr.AnnotationUnitsValues.PIXEL,
                anchor_point=(float(line[0, 0]), float(line[0, 1])),
                anchor_point_visible=False,
            )
        )
    annotations = []
    n_frames = int(ref.get("NumberOfFrames", 1) or 1)
    if graphics:
        annotations.append(
            hd.pr.GraphicAnnotation(
                referenced_images=[ref],
                graphic_layer=layer,
                referenced_frame_number=frame + 1 if n_frames > 1 else None,
                graphic_objects=graphics,
                text_objects=texts,
            )
        )
    state = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=[ref],
        series_instance_uid=series_uid or generate_uid(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=instance_number,
        manufacturer="PneumoView",
        manufacturer_model_name="PneumoView",
        software_versions=_version(),
        device_serial_number="",
        content_label=CONTENT_LABEL,
        content_description=description[:64],
        graphic_annotations=annotations or None,
        graphic_layers=[layer] if annotations else None,
    )
    return state


def _complete(image: Dataset) -> Dataset:
    """A copy of the header with the attributes highdicom reads, empty where the image has none."""
    ref = Dataset()
    ref.update(image)
    for keyword in PATIENT_STUDY_COPIED:
        if keyword not in ref:
            setattr(ref, keyword, "")
    if "SamplesPerPixel" not in ref:
        ref.SamplesPerPixel = 1
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(ref.get(keyword, "") or ""):
            raise ValueError(f"the image has no {keyword}")
    if not ref.get("Rows") or not ref.get("Columns"):
        raise ValueError("the image has no Rows/Columns")
    return ref


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pneumoview")
    except PackageNotFoundError:
        return "dev"
