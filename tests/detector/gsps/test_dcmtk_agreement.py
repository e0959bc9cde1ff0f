"""A presentation state applied by :func:`detector.gsps.present.apply_presentation` agrees with
DCMTK (Debian ``dcmtk``), the reference renderer: rotation, flip, displayed area, window, VOI LUT.

``dcmp2pgm -p PSTATE IMAGE out.pgm`` renders the VOI and the spatial transformation of the whole
image (it does not cut out the displayed area: DCMTK leaves that to the application and only
reports the corners); ``dcmpsprt`` renders the same state into a Hardcopy Grayscale image, which
DCMTK cuts to the displayed area (``DVPresentationState::getPrintBitmap``), as 12-bit P-values.
Both are compared pixel for pixel: same shape, within one grey level on >= 99.99% of pixels.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from detector.gsps.model import GSPS_SOP_CLASS
from detector.gsps.present import apply_presentation
from detector.gsps.read import read_gsps
from detector.imaging.decode import load_image

DCMP2PGM = shutil.which("dcmp2pgm")
DCMPSPRT = shutil.which("dcmpsprt")
ROWS, COLS = 60, 80
IMAGE_UID = "1.2.826.0.1.3680043.8.498.71"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"


def _common(ds: Dataset, sop_class: str, uid: str, series: str) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.70", series
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "TEST^GSPS", "P1", "", ""
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "000000", "1", ""
    ds.ReferringPhysicianName, ds.Manufacturer = "", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1


def write_image(folder: Path) -> Path:
    """A 60 x 80 12-bit image: a ramp that differs along both axes, and a bright marker."""
    ds = Dataset()
    _common(ds, SC_CLASS, IMAGE_UID, "1.2.826.0.1.3680043.8.498.72")
    ds.Modality = "OT"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    r, c = np.mgrid[0:ROWS, 0:COLS]
    pixels = ((r * 37 + c * 11) % 4096).astype(np.uint16)
    pixels[25:30, 12:16] = 4000
    ds.PixelData = pixels.tobytes()
    path = folder / "image.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_state(
    folder: Path, area: tuple[list[int], list[int]], voi: Dataset, rotation: int, flip: bool
) -> Path:
    ds = Dataset()
    _common(ds, GSPS_SOP_CLASS, "1.2.826.0.1.3680043.8.498.73", "1.2.826.0.1.3680043.8.498.74")
    ds.Modality = "PR"
    ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = "CHECK", "", ""
    ds.PresentationCreationDate, ds.PresentationCreationTime = "20260101", "000000"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = SC_CLASS, IMAGE_UID
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.72"
    series.ReferencedImageSequence = Sequence([ref])
    ds.ReferencedSeriesSequence = Sequence([series])
    item = Dataset()
    item.DisplayedAreaTopLeftHandCorner, item.DisplayedAreaBottomRightHandCorner = area
    item.PresentationSizeMode = "SCALE TO FIT"
    item.PresentationPixelAspectRatio = [1, 1]
    ds.DisplayedAreaSelectionSequence = Sequence([item])
    ds.SoftcopyVOILUTSequence = Sequence([voi])
    ds.PresentationLUTShape = "IDENTITY"
    ds.ImageRotation = rotation
    ds.ImageHorizontalFlip = "Y" if flip else "N"
    path = folder / "state.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def window_voi(center: float = 2000, width: float = 3000) -> Dataset:
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = center, width
    return voi


def lut_voi() -> Dataset:
    """A curved 12-bit VOI LUT of 2048 entries from stored value 1000 (clamped either side)."""
    lut = Dataset()
    lut.LUTDescriptor = [2048, 1000, 12]
    curve = np.rint(4095.0 * np.sqrt(np.arange(2048) / 2047.0)).astype(np.uint16)
    lut.add_new(0x00283006, "US", curve.tolist())
    lut.LUTExplanation = "SQRT"
    voi = Dataset()
    voi.VOILUTSequence = Sequence([lut])
    return voi


def ours(image: Path, state: Path) -> np.ndarray:
    return apply_presentation(load_image(str(image)), read_gsps(state))


def assert_agree(mine: np.ndarray, reference: np.ndarray) -> None:
    assert mine.shape == reference.shape
    close = np.abs(mine.astype(np.int32) - reference.astype(np.int32)) <= 1
    assert close.mean() >= 0.9999, f"{(~close).sum()} pixels differ by more than one grey level"


def dcmp2pgm(image: Path, state: Path, tmp_path: Path) -> np.ndarray:
    from PIL import Image

    out = tmp_path / "dcmtk.pgm"
    subprocess.run(
        [str(DCMP2PGM), "-q", "-p", str(state), str(image), str(out)], check=True, timeout=60
    )
    with Image.open(out) as pgm:
        return np.array(pgm)


def dcmpsprt(image: Path, state: Path, tmp_path: Path) -> np.ndarray:
    """DCMTK's print rendering (cut to the displayed area), as 8-bit grey."""
    work = tmp_path / "print"
    for sub in ("database", "spool", "log", "lut", "reports"):
        (work / sub).mkdir(parents=True)
    # At least one printer pixel per image pixel, no scaling: the print bitmap is the area.
    (work / "dcmpstat.cfg").write_text(
        "[[GENERAL]]\n[PRINT]\nDirectory = spool\nMinPrintResolution = 1\\1\n"
        "MaxPrintResolution = 8192\\8192\n[DATABASE]\nDirectory = database\n"
        "[LUT]\nDirectory = lut\n[REPORT]\nDirectory = reports\n"
    )
    subprocess.run(
        [str(DCMPSPRT), "-q", "-c", "dcmpstat.cfg", "+p", str(state), str(image)],
        cwd=work,
        check=True,
        timeout=60,
    )
    (hardcopy,) = (work / "database").glob("HG_*.dcm")
    ds = pydicom.dcmread(hardcopy)
    top = float(2 ** int(ds.BitsStored) - 1)
    return np.rint(ds.pixel_array.astype(np.float64) * (255.0 / top)).astype(np.uint8)


VOIS = {"window": window_voi, "voi-lut": lut_voi}


@pytest.mark.skipif(DCMP2PGM is None, reason="dcmp2pgm (Debian dcmtk) is not installed")
@pytest.mark.parametrize("voi", sorted(VOIS))
@pytest.mark.parametrize(("rotation", "flip"), [(90, True), (90, False), (0, True), (270, True)])
def test_whole_image_agrees_with_dcmp2pgm(tmp_path, voi, rotation, flip) -> None:
    image = write_image(tmp_path)
    state = write_state(tmp_path, ([1, 1], [COLS, ROWS]), VOIS[voi](), rotation, flip)
    mine = ours(image, state)
    assert_agree(mine, dcmp2pgm(image, state, tmp_path))
    if (rotation, flip, voi) == (90, True, "window"):
        # Rotated clockwise and then flipped, the view is the image transposed (80 x 60): the
        # marker at rows 26-30, columns 13-16 (1-based) is at rows 13-16, columns 26-30.
        bright = np.argwhere(mine == mine.max())
        assert mine.shape == (COLS, ROWS)
        assert (bright.min(0).tolist(), bright.max(0).tolist()) == ([12, 25], [15, 29])


@pytest.mark.skipif(DCMPSPRT is None, reason="dcmpsprt (Debian dcmtk) is not installed")
@pytest.mark.parametrize("voi", sorted(VOIS))
def test_displayed_area_agrees_with_dcmtk_print(tmp_path, voi) -> None:
    """Rotation 90 + flip + a displayed area (columns 11-40, rows 21-55 of the image)."""
    image = write_image(tmp_path)
    state = write_state(tmp_path, ([11, 21], [40, 55]), VOIS[voi](), 90, True)
    mine = ours(image, state)
    assert mine.shape == (30, 35)  # 35 rows x 30 columns, transposed
    assert_agree(mine, dcmpsprt(image, state, tmp_path))
