"""Overlay planes: read from Overlay Data or high pixel bits, placed at their origin, clipped."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits

from detector.imaging.decode import load_image
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from detector.imaging.overlays import burn_overlays, compose_mask, draw_planes, read_overlays

#: A 3 x 3 plane drawn by hand: an "L".
L_SHAPE = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 1]], dtype=bool)


def _testdata(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not in the locally installed pydicom test data")
    return str(path)


def add_plane(
    ds: Dataset,
    masks: np.ndarray,
    *,
    group: int = 0x6000,
    origin: tuple[int, int] = (1, 1),
    kind: str = "G",
    description: str = "",
    frames: int | None = None,
    frame_origin: int | None = None,
    data: bytes | None = None,
) -> None:
    """Add an Overlay Plane (bits packed as PS3.5 8.1.2 says) to ``ds``."""
    rows, cols = masks.shape[-2:]
    ds.add_new((group, 0x0010), "US", rows)
    ds.add_new((group, 0x0011), "US", cols)
    ds.add_new((group, 0x0040), "CS", kind)
    ds.add_new((group, 0x0050), "SS", list(origin))
    ds.add_new((group, 0x0100), "US", 1)
    ds.add_new((group, 0x0102), "US", 0)
    if description:
        ds.add_new((group, 0x0022), "LO", description)
    if frames is not None:
        ds.add_new((group, 0x0015), "IS", frames)
    if frame_origin is not None:
        ds.add_new((group, 0x0051), "US", frame_origin)
    packed = pack_bits(masks.astype(np.uint8).ravel()) if data is None else data
    ds.add_new((group, 0x3000), "OW", packed)


def image(rows: int = 4, cols: int = 5, frames: int = 1) -> Dataset:
    shape = (rows, cols) if frames == 1 else (frames, rows, cols)
    return new_image_dataset(np.full(shape, 100, np.uint8))


def high_bit_file(values: np.ndarray, bits: np.ndarray, **attrs: object) -> Dataset:
    """12 bits stored in 16; the overlay in bit 15 of the pixel data, no Overlay Data."""
    ds = new_image_dataset(values, bits_stored=12, **attrs)
    words = (values.view(np.uint16) & 0x0FFF) | (bits.astype(np.uint16) << 15)
    ds.PixelData = words.astype("<u2").tobytes()
    rows, cols = values.shape[-2:]
    for elem, vr, value in (
        (0x0010, "US", rows),
        (0x0011, "US", cols),
        (0x0040, "CS", "G"),
        (0x0050, "SS", [1, 1]),
        (0x0100, "US", 1),
        (0x0102, "US", 15),
    ):
        ds.add_new((0x6000, elem), vr, value)
    return ds


class TestReadOverlays:
    def test_pydicom_example_file(self):
        """examples_overlay.dcm: one graphics plane, the image's size, at its corner."""
        ds = pydicom.dcmread(_testdata("examples_overlay.dcm"))
        found = read_overlays(ds)
        assert found.problems == ()
        (plane,) = found.planes
        assert (plane.group, plane.rows, plane.columns) == (0x6000, 300, 484)
        assert (plane.origin, plane.type) == ((1, 1), "G")
        assert plane.description == "Siemens MedCom Object Graphics"
        assert plane.frames == 1 and not plane.embedded
        assert int(plane.masks[0].sum()) == 222
        mask = compose_mask(found.planes, 0, (300, 484))
        np.testing.assert_array_equal(mask, plane.masks[0])

    def test_siemens_file_with_overlays(self):
        """MR-SIEMENS-DICOM-WithOverlays.dcm: every plane read, none skipped."""
        ds = pydicom.dcmread(_testdata("MR-SIEMENS-DICOM-WithOverlays.dcm"))
        found = read_overlays(ds)
        assert found.problems == ()
        assert found.planes and all(p.type in ("G", "R") for p in found.planes)

    def test_no_overlay(self):
        """An image without overlay groups has no planes and no problems."""
        assert read_overlays(image()) == read_overlays(Dataset())
        assert read_overlays(image()).planes == ()

    def test_two_planes_with_their_attributes(self):
        """Each even group is its own plane, with type, description and origin."""
        ds = image()
        add_plane(ds, L_SHAPE, group=0x6000, description="marker")
        add_plane(ds, ~L_SHAPE, group=0x6002, origin=(2, 3), kind="R")
        found = read_overlays(ds)
        assert [(p.group, p.type, p.description, p.origin) for p in found.planes] == [
            (0x6000, "G", "marker", (1, 1)),
            (0x6002, "R", "", (2, 3)),
        ]
        np.testing.assert_array_equal(found.planes[0].masks[0], L_SHAPE)
        np.testing.assert_array_equal(found.planes[1].masks[0], ~L_SHAPE)

    def test_origin_partly_outside_is_clipped(self):
        """A 3 x 3 plane at (3, 4) on a 4 x 5 image keeps only its top-left 2 x 2."""
        ds = image()
        add_plane(ds, L_SHAPE, origin=(3, 4))
        mask = compose_mask(read_overlays(ds).planes, 0, (4, 5))
        expected = np.array(
            [
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 1, 0],
                [0, 0, 0, 1, 0],
            ],
            dtype=bool,
        )
        np.testing.assert_array_equal(mask, expected)

    def test_negative_origin_is_clipped(self):
        """Origin (0, -1): the plane's first row and first two columns lie outside."""
        ds = image()
        add_plane(ds, L_SHAPE, origin=(0, -1))
        mask = compose_mask(read_overlays(ds).planes, 0, (4, 5))
        expected = np.array(
            [
                [0, 0, 0, 0, 0],
                [1, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
            ],
            dtype=bool,
        )
        np.testing.assert_array_equal(mask, expected)

    def test_plane_wholly_outside_adds_nothing(self):
        """A plane beyond the image is no error and sets no pixel."""
        ds = image()
        add_plane(ds, L_SHAPE, origin=(40, 50))
        found = read_overlays(ds)
        assert found.problems == () and len(found.planes) == 1
        assert not compose_mask(found.planes, 0, (4, 5)).any()

    def test_per_frame_overlays_of_a_multiframe_image(self):
        """Two overlay frames from Image Frame Origin 2 sit on image frames 1 and 2 only."""
        ds = image(rows=2, cols=2, frames=3)
        first = np.array([[1, 0], [0, 0]], dtype=bool)
        second = np.array([[0, 0], [0, 1]], dtype=bool)
        add_plane(ds, np.stack([first, second]), frames=2, frame_origin=2)
        (plane,) = read_overlays(ds).planes
        assert plane.frames == 2 and plane.first_frame == 1
        assert not compose_mask([plane], 0, (2, 2)).any()
        np.testing.assert_array_equal(compose_mask([plane], 1, (2, 2)), first)
        np.testing.assert_array_equal(compose_mask([plane], 2, (2, 2)), second)

    def test_single_overlay_frame_is_on_every_frame(self):
        """Without Number of Frames in Overlay the one plane belongs to every image frame."""
        ds = image(rows=3, cols=3, frames=2)
        add_plane(ds, L_SHAPE)
        (plane,) = read_overlays(ds).planes
        for frame in (0, 1):
            np.testing.assert_array_equal(compose_mask([plane], frame, (3, 3)), L_SHAPE)

    def test_high_bit_overlay_in_16_bit_pixels(self, tmp_path):
        """Bit 12 of 12-bit-stored 16-bit pixels is the overlay; the image ignores it."""
        values = np.array([[5, 6, 7], [8, 9, 10]], dtype=np.uint16)
        bits = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.uint16)
        ds = new_image_dataset(values, bits_stored=12)
        ds.PixelData = (values | (bits << 12)).astype("<u2").tobytes()  # what old scanners wrote
        ds.add_new((0x6000, 0x0010), "US", 2)
        ds.add_new((0x6000, 0x0011), "US", 3)
        ds.add_new((0x6000, 0x0050), "SS", [1, 1])
        ds.add_new((0x6000, 0x0100), "US", 16)
        ds.add_new((0x6000, 0x0102), "US", 12)
        path = tmp_path / "highbit.dcm"
        save_dataset(ds, path)
        found = read_overlays(pydicom.dcmread(path))
        assert found.problems == ()
        (plane,) = found.planes
        assert plane.embedded
        np.testing.assert_array_equal(plane.masks[0], np.array([[1, 0, 0], [0, 1, 1]], dtype=bool))
        np.testing.assert_array_equal(load_image(path).stored, values)

    def test_high_bit_inside_stored_bits_is_skipped(self):
        """A bit position that is a pixel bit is not an overlay: skipped with a reason."""
        ds = new_image_dataset(np.zeros((2, 2), np.uint16), bits_stored=12)
        ds.add_new((0x6000, 0x0010), "US", 2)
        ds.add_new((0x6000, 0x0011), "US", 2)
        ds.add_new((0x6000, 0x0100), "US", 16)
        ds.add_new((0x6000, 0x0102), "US", 3)
        found = read_overlays(ds)
        assert found.planes == ()
        assert found.problems == (
            "overlay 6000 skipped: Overlay Bit Position 3 lies inside the stored pixel bits",
        )

    def test_damaged_plane_is_skipped_and_the_rest_read(self, tmp_path):
        """Overlay Data too short: that plane is skipped in one line; the image still decodes."""
        ds = image()
        add_plane(ds, L_SHAPE, group=0x6000)
        big = np.ones((40, 40), dtype=bool)
        add_plane(ds, big, group=0x6002, data=b"\xff\xff")
        path = tmp_path / "damaged.dcm"
        save_dataset(ds, path)
        found = read_overlays(pydicom.dcmread(path))
        assert [p.group for p in found.planes] == [0x6000]
        assert found.problems == (
            "overlay 6002 skipped: Overlay Data is 2 bytes, a 40 x 40 x 1 plane needs 200",
        )
        assert load_image(path).stored.shape == (4, 5)

    def test_plane_without_rows_is_skipped(self):
        """A plane missing Overlay Rows is named with the reason."""
        ds = image()
        ds.add_new((0x6004, 0x0011), "US", 3)
        ds.add_new((0x6004, 0x3000), "OW", b"\x00\x00")
        assert read_overlays(ds).problems == ("overlay 6004 skipped: no Overlay Rows",)


def test_burn_sets_white_where_the_mask_is_set():
    """The display value is 255 under the mask and unchanged elsewhere, grey and RGB."""
    grey = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    mask = np.array([[0, 1], [1, 0]], dtype=bool)
    np.testing.assert_array_equal(
        burn_overlays(grey, mask), np.array([[10, 255], [255, 40]], dtype=np.uint8)
    )
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert burn_overlays(rgb, mask)[0, 1].tolist() == [255, 255, 255]
    assert burn_overlays(rgb, mask)[0, 0].tolist() == [0, 0, 0]
    assert grey[0, 1] == 20  # the input is not changed


class TestHighBitOverlays:
    """Old files: the overlay in bit 15 of 12-bit-stored 16-bit pixels, no Overlay Data."""

    VALUES = np.array([[5, 6, 7], [8, 4095, 10]], dtype=np.uint16)
    BITS = np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)

    def _file(self, tmp_path, values=None, bits=None):
        values = self.VALUES if values is None else values
        bits = self.BITS if bits is None else bits
        path = tmp_path / "highbit15.dcm"
        save_dataset(high_bit_file(values, bits), path)
        return path

    def test_pixels_exclude_the_overlay_bit(self, tmp_path):
        """The stored values are the 12 low bits: bit 15 is masked out before any LUT."""
        image_ = load_image(self._file(tmp_path))
        np.testing.assert_array_equal(image_.stored, self.VALUES)
        assert image_.modality_range == (5.0, 4095.0)

    def test_signed_pixels_exclude_the_overlay_bit(self, tmp_path):
        """Signed 12-bit values are sign-extended from bit 11, not read with bit 15 as a sign."""
        signed = np.array([[-2048, -1, 0], [1, 2047, -5]], dtype=np.int16)
        image_ = load_image(self._file(tmp_path, values=signed))
        np.testing.assert_array_equal(image_.stored, signed)

    def test_read_from_a_header_without_pixels(self, tmp_path):
        """The window reads overlays from the decoded image's header (no Pixel Data in it): the
        plane is read from the file's pixel data, not skipped."""
        header = load_image(self._file(tmp_path)).header
        assert "PixelData" not in header
        found = read_overlays(header)
        assert found.problems == ()
        (plane,) = found.planes
        assert plane.embedded and plane.all_frames
        np.testing.assert_array_equal(plane.masks[0], self.BITS)

    def test_each_frame_has_its_own_bits(self, tmp_path):
        """Two frames, each with its own marker bits: the plane follows the frame."""
        values = np.zeros((2, 2, 3), dtype=np.uint16)
        bits = np.array([[[1, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 1]]], dtype=bool)
        header = load_image(self._file(tmp_path, values=values, bits=bits), 1).header
        (plane,) = read_overlays(header).planes
        assert not plane.all_frames and plane.frames == 2
        np.testing.assert_array_equal(compose_mask([plane], 0, (2, 3)), bits[0])
        np.testing.assert_array_equal(compose_mask([plane], 1, (2, 3)), bits[1])

    def test_header_of_a_vanished_file_skips_the_plane_in_one_line(self, tmp_path):
        """The file is gone by the time the overlays are read: one line, no exception."""
        path = self._file(tmp_path)
        header = load_image(path).header
        path.unlink()
        found = read_overlays(header)
        assert found.planes == ()
        (line,) = found.problems
        assert line.startswith("overlay 6000 skipped: the pixel data that holds it cannot be read")


class TestDrawPlanes:
    """draw_planes: dcmj2pnm's default modes, graphics replace, ROI dims outside its region."""

    DISPLAY = np.array(
        [[160, 160, 160, 160], [160, 160, 160, 160], [32, 48, 64, 80]], dtype=np.uint8
    )

    def _plane(self, mask, kind, origin=(1, 1)):
        ds = image(rows=3, cols=4)
        add_plane(ds, np.asarray(mask, dtype=bool), kind=kind, origin=origin)
        return read_overlays(ds).planes

    def test_graphics_plane_is_white(self):
        planes = self._plane([[1, 0], [0, 1]], "G", origin=(2, 2))
        out = draw_planes(self.DISPLAY, planes, 0)
        expected = self.DISPLAY.copy()
        expected[1, 1] = expected[2, 2] = 255
        np.testing.assert_array_equal(out, expected)

    def test_roi_plane_dims_its_rectangle_outside_the_region(self):
        """Inside the 2 x 3 rectangle at (2, 2): set bits keep their value, others become v >> 4;
        outside the rectangle nothing changes."""
        planes = self._plane([[1, 0, 0], [1, 1, 0]], "R", origin=(2, 2))
        out = draw_planes(self.DISPLAY, planes, 0)
        expected = np.array(
            [[160, 160, 160, 160], [160, 160, 10, 10], [32, 48, 64, 5]], dtype=np.uint8
        )
        np.testing.assert_array_equal(out, expected)

    def test_planes_drawn_in_group_order(self):
        """A graphics pixel then dimmed by a later ROI plane reads 255 >> 4 = 15."""
        ds = image(rows=3, cols=4)
        add_plane(ds, np.array([[1]], dtype=bool), kind="G", group=0x6000, origin=(1, 1))
        add_plane(ds, np.array([[0, 1]], dtype=bool), kind="R", group=0x6002, origin=(1, 1))
        out = draw_planes(self.DISPLAY, read_overlays(ds).planes, 0)
        assert out[0].tolist() == [15, 160, 160, 160]

    def test_rgb_display(self):
        planes = self._plane([[0, 1]], "R")
        rgb = np.repeat(self.DISPLAY[..., None], 3, axis=2)
        out = draw_planes(rgb, planes, 0)
        assert out[0, 0].tolist() == [10, 10, 10] and out[0, 1].tolist() == [160, 160, 160]
