"""Reading GSPS files: every module the window applies, on hand-built datasets, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from detector.gsps.model import GSPS_SOP_CLASS, ImageRef
from detector.gsps.read import GspsError, read_gsps

IMAGE = "1.2.826.0.1.3680043.8.498.1"


def ref_item(uid: str = IMAGE, frames: list[int] | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    item.ReferencedSOPInstanceUID = uid
    if frames:
        item.ReferencedFrameNumber = frames
    return item


def graphic(kind: str, data: list[float], units: str = "PIXEL", filled: bool = False) -> Dataset:
    obj = Dataset()
    obj.GraphicAnnotationUnits = units
    obj.GraphicDimensions = 2
    obj.NumberOfGraphicPoints = len(data) // 2
    obj.GraphicData = data
    obj.GraphicType = kind
    obj.GraphicFilled = "Y" if filled else "N"
    return obj


def gsps(**extra: object) -> Dataset:
    """A minimal GSPS referencing :data:`IMAGE`, a 100 x 200 (rows x columns) image."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = GSPS_SOP_CLASS
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.ContentLabel = "COLLEAGUE"
    ds.ContentDescription = "left base"
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    series.ReferencedImageSequence = Sequence([ref_item()])
    ds.ReferencedSeriesSequence = Sequence([series])
    area = Dataset()
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [200, 100]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelAspectRatio = [1, 1]
    ds.DisplayedAreaSelectionSequence = Sequence([area])
    ds.PresentationLUTShape = "IDENTITY"
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def annotation(objects: list[Dataset], texts: list[Dataset] | None = None) -> Sequence:
    item = Dataset()
    item.GraphicLayer = "LAYER1"
    item.ReferencedImageSequence = Sequence([ref_item()])
    if objects:
        item.GraphicObjectSequence = Sequence(objects)
    if texts:
        item.TextObjectSequence = Sequence(texts)
    return Sequence([item])


def save(ds: Dataset, tmp_path: Path, name: str = "pr.dcm") -> Path:
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


class TestReadGsps:
    def test_references_label_and_identity(self, tmp_path: Path) -> None:
        """The referenced image, label and description are read; no VOI is the image's own."""
        state = read_gsps(save(gsps(), tmp_path))
        assert state.refs == (ImageRef(IMAGE, ()),)
        assert state.references(IMAGE)
        assert not state.references("9.9")
        assert state.title() == "COLLEAGUE \u2014 left base"
        assert state.voi_for(IMAGE) is None
        assert state.inverse is False
        assert (state.rotation, state.flip) == (0, False)

    @pytest.mark.parametrize(
        ("kind", "data"),
        [
            ("POINT", [10.0, 20.0]),
            ("POLYLINE", [1.0, 2.0, 30.0, 2.0, 30.0, 40.0, 1.0, 2.0]),
            ("INTERPOLATED", [5.0, 5.0, 50.0, 10.0, 90.0, 50.0]),
            ("CIRCLE", [100.0, 50.0, 110.0, 50.0]),
            ("ELLIPSE", [80.0, 50.0, 120.0, 50.0, 100.0, 40.0, 100.0, 60.0]),
        ],
    )
    def test_each_graphic_type_in_pixel_units(self, tmp_path: Path, kind: str, data) -> None:
        """Each graphic type keeps its PIXEL coordinates as (column, row) points."""
        ds = gsps(GraphicAnnotationSequence=annotation([graphic(kind, data, filled=True)]))
        (note,) = read_gsps(save(ds, tmp_path)).annotations_for(IMAGE)
        (shape,) = note.graphics
        assert shape.kind == kind
        assert shape.points == tuple(zip(data[0::2], data[1::2], strict=True))
        assert shape.filled is True
        assert note.layer == "LAYER1"

    def test_text_object_box_and_anchor(self, tmp_path: Path) -> None:
        text = Dataset()
        text.BoundingBoxAnnotationUnits = "PIXEL"
        text.AnchorPointAnnotationUnits = "PIXEL"
        text.UnformattedTextValue = "nodule?"
        text.BoundingBoxTopLeftHandCorner = [10, 10]
        text.BoundingBoxBottomRightHandCorner = [60, 20]
        text.AnchorPoint = [70, 30]
        text.AnchorPointVisibility = "Y"
        ds = gsps(GraphicAnnotationSequence=annotation([], [text]))
        (note,) = read_gsps(save(ds, tmp_path)).annotations
        (t,) = note.texts
        assert (t.text, t.box, t.anchor) == ("nodule?", ((10.0, 10.0), (60.0, 20.0)), (70.0, 30.0))

    def test_display_units_are_converted_through_the_displayed_area(self, tmp_path: Path) -> None:
        """DISPLAY (0.5, 0.25) of the area columns 101-200, rows 1-100 is pixel (150, 25)."""
        ds = gsps(GraphicAnnotationSequence=annotation([graphic("POINT", [0.5, 0.25], "DISPLAY")]))
        ds.DisplayedAreaSelectionSequence[0].DisplayedAreaTopLeftHandCorner = [101, 1]
        (note,) = read_gsps(save(ds, tmp_path)).annotations
        assert note.graphics[0].points == ((150.0, 25.0),)

    def test_display_units_follow_rotation_and_flip(self, tmp_path: Path) -> None:
        """Rotated 90 degrees clockwise, the screen's top-left corner is the image's bottom-left
        corner; flipped after the rotation (PS3.3 C.10.6, as DCMTK renders it) the view is the
        image transposed: the screen's top-left corner is the image's top-left corner and the
        screen's top-right corner the image's bottom-left corner."""
        ds = gsps(
            ImageRotation=90,
            GraphicAnnotationSequence=annotation(
                [graphic("POINT", [0.0, 0.0, 1.0, 0.0], "DISPLAY")]
            ),
        )
        (note,) = read_gsps(save(ds, tmp_path)).annotations
        assert note.graphics[0].points == ((0.0, 100.0), (0.0, 0.0))
        ds.ImageHorizontalFlip = "Y"
        flipped = read_gsps(save(ds, tmp_path, "flip.dcm"))
        assert (flipped.rotation, flipped.flip) == (90, True)
        assert flipped.annotations[0].graphics[0].points == ((0.0, 0.0), (0.0, 100.0))

    def test_window_per_referenced_image(self, tmp_path: Path) -> None:
        """Each Softcopy VOI LUT item applies to its own images (frames)."""
        first, second = Dataset(), Dataset()
        first.ReferencedImageSequence = Sequence([ref_item(IMAGE, [1])])
        first.WindowCenter, first.WindowWidth = 40, 400
        first.WindowCenterWidthExplanation = "SOFT"
        second.ReferencedImageSequence = Sequence([ref_item(IMAGE, [2])])
        second.WindowCenter, second.WindowWidth = -600, 1500
        second.VOILUTFunction = "SIGMOID"
        state = read_gsps(save(gsps(SoftcopyVOILUTSequence=Sequence([first, second])), tmp_path))
        one, two = state.voi_for(IMAGE, 1), state.voi_for(IMAGE, 2)
        assert one is not None and one.window is not None and two is not None and two.window
        assert (one.window.center, one.window.width, one.window.name) == (40.0, 400.0, "SOFT")
        assert (two.window.center, two.window.width, two.window.function) == (-600, 1500, "SIGMOID")
        assert state.voi_for("9.9") is None

    def test_voi_lut(self, tmp_path: Path) -> None:
        item, lut = Dataset(), Dataset()
        lut.LUTDescriptor = [4, 10, 8]
        lut.add_new(0x00283006, "US", [0, 80, 160, 255])
        lut.LUTExplanation = "ramp"
        item.VOILUTSequence = Sequence([lut])
        state = read_gsps(save(gsps(SoftcopyVOILUTSequence=Sequence([item])), tmp_path))
        voi = state.voi_for(IMAGE)
        assert voi is not None and voi.lut is not None and voi.window is None
        assert (voi.lut.first_mapped, voi.lut.bits, voi.lut.explanation) == (10, 8, "ramp")
        assert voi.lut.data.tolist() == [0.0, 80.0, 160.0, 255.0]

    def test_inverse_rotation_and_displayed_area(self, tmp_path: Path) -> None:
        ds = gsps(PresentationLUTShape="INVERSE", ImageRotation=270, ImageHorizontalFlip="Y")
        area = ds.DisplayedAreaSelectionSequence[0]
        area.DisplayedAreaTopLeftHandCorner = [20, 10]
        area.DisplayedAreaBottomRightHandCorner = [120, 60]
        area.PresentationSizeMode = "MAGNIFY"
        area.PresentationPixelMagnificationRatio = 2.0
        state = read_gsps(save(ds, tmp_path))
        assert (state.inverse, state.rotation, state.flip) == (True, 270, True)
        got = state.area_for(IMAGE)
        assert got is not None
        assert (got.top_left, got.bottom_right, got.size_mode, got.magnification) == (
            (20, 10),
            (120, 60),
            "MAGNIFY",
            2.0,
        )


class TestMalformed:
    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            (lambda ds: setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.1"), "not a Grayscale"),
            (
                lambda ds: delattr(ds, "ReferencedSeriesSequence"),
                "(0008,1115) ReferencedSeriesSequence",
            ),
            (lambda ds: setattr(ds, "ImageRotation", 45), "(0070,0042) Image Rotation is 45"),
            (lambda ds: setattr(ds, "PresentationLUTShape", "LOG"), "(2050,0020)"),
            (
                lambda ds: setattr(
                    ds,
                    "GraphicAnnotationSequence",
                    annotation([graphic("POLYLINE", [1.0, 2.0, 3.0])]),
                ),
                "odd number of coordinates",
            ),
            (
                lambda ds: setattr(
                    ds, "GraphicAnnotationSequence", annotation([graphic("SPLINE", [1.0, 2.0])])
                ),
                "(0070,0023) Graphic Type is 'SPLINE'",
            ),
            (
                lambda ds: setattr(
                    ds, "GraphicAnnotationSequence", annotation([graphic("CIRCLE", [1.0, 2.0])])
                ),
                "a CIRCLE with 1 point",
            ),
            (
                lambda ds: setattr(
                    ds,
                    "GraphicAnnotationSequence",
                    annotation([graphic("POINT", [1.0, 2.0], "INCH")]),
                ),
                "not PIXEL or DISPLAY",
            ),
        ],
    )
    def test_one_line_naming_file_and_attribute(self, tmp_path: Path, change, reason: str) -> None:
        ds = gsps()
        change(ds)
        path = save(ds, tmp_path, "bad.dcm")
        with pytest.raises(GspsError) as info:
            read_gsps(path)
        message = str(info.value)
        assert message.startswith("bad.dcm: ")
        assert reason in message
        assert "\n" not in message

    def test_display_units_without_displayed_area(self, tmp_path: Path) -> None:
        ds = gsps(GraphicAnnotationSequence=annotation([graphic("POINT", [0.5, 0.5], "DISPLAY")]))
        del ds.DisplayedAreaSelectionSequence
        with pytest.raises(GspsError, match=r"pr.dcm: .*DISPLAY units without a Displayed Area"):
            read_gsps(save(ds, tmp_path))

    def test_not_dicom(self, tmp_path: Path) -> None:
        path = tmp_path / "junk.dcm"
        path.write_bytes(b"\x00" * 10)
        with pytest.raises(GspsError, match=r"^junk.dcm: "):
            read_gsps(path)

    def test_unequal_number_of_points(self, tmp_path: Path) -> None:
        obj = graphic("POLYLINE", [1.0, 2.0, 3.0, 4.0])
        obj.NumberOfGraphicPoints = 5
        ds = gsps(GraphicAnnotationSequence=annotation([obj]))
        with pytest.raises(GspsError, match=r"Number of Graphic Points is 5 but .* holds 2"):
            read_gsps(save(ds, tmp_path))


def test_lut_array_is_float() -> None:
    """Guard for the VoiLut equality used by the round trip (arrays compared by value)."""
    from detector.gsps.model import VoiLut

    assert VoiLut(0, 8, np.array([1.0, 2.0])) == VoiLut(0, 8, np.array([1.0, 2.0]))
    assert VoiLut(0, 8, np.array([1.0, 2.0])) != VoiLut(0, 8, np.array([1.0, 3.0]))
