"""Fuzz: DICOM headers and pixel modules from random but typed values.

Every example is written to a file and goes through ``load_image`` + ``render``, as the viewer,
``convert`` and ``detect`` do. It must end in a rendered image or in a one-line
:class:`~detector.errors.PneumoViewError` naming the file: never another exception, a hang
(the profile's deadline) or a memory blow-up (:func:`tests.fuzz.memory.rss_cap`).
"""

from __future__ import annotations

import itertools
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydicom import config as pydicom_config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from detector.errors import PneumoViewError
from detector.imaging.decode import load_image
from detector.imaging.read import quiet_pydicom, read_header
from detector.imaging.render import render
from tests.fuzz.memory import rss_cap

_NATIVE = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
_TRANSFER_SYNTAXES = [*_NATIVE, RLELossless, DeflatedExplicitVRLittleEndian]
_PHOTOMETRICS = [
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "PALETTE COLOR",
    "YBR_FULL",
    "YBR_FULL_422",
    "",
    "NONSENSE",
]
#: Numbers a header may hold: ordinary, zero, negative, tiny, huge, not finite.
_NUMBERS = st.one_of(
    st.floats(-5000, 5000, allow_nan=False),
    st.sampled_from([0.0, -1.0, 1e-30, 1e30, -1e300, 1.7e308, float("nan"), float("inf")]),
)
_DS_TEXT = _NUMBERS.map(lambda v: f"{v:.6g}"[:16]) | st.sampled_from(["", "abc", "1\\2", " 7 "])

_TEXT_NUMBERS = {"RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"}
_counter = itertools.count()


@st.composite
def pixel_modules(draw: st.DrawFn) -> dict[str, Any]:
    """The attributes of one image: a valid module, then none, one or a few fields made hostile."""
    color = draw(st.booleans()) and draw(st.booleans())
    bits_allocated = 8 if color else draw(st.sampled_from([8, 16, 16, 32, 1]))
    bits_stored = bits_allocated if bits_allocated in (1, 8) else draw(st.integers(8, 16))
    bits_stored = min(bits_stored, bits_allocated)
    module: dict[str, Any] = {
        "Rows": draw(st.integers(1, 48)),
        "Columns": draw(st.integers(1, 48)),
        "NumberOfFrames": draw(st.sampled_from([None, 1, 2, 3])),
        "SamplesPerPixel": 3 if color else 1,
        "PlanarConfiguration": draw(st.sampled_from([0, 1])) if color else None,
        "BitsAllocated": bits_allocated,
        "BitsStored": bits_stored,
        "HighBit": bits_stored - 1,
        "PixelRepresentation": 0 if color else draw(st.sampled_from([0, 1])),
        "PhotometricInterpretation": "RGB"
        if color
        else draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2"])),
        "transfer_syntax": draw(st.sampled_from(_TRANSFER_SYNTAXES)),
        "length_delta": 0,
        "seed": draw(st.integers(0, 2**16)),
    }
    for keyword in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        if draw(st.booleans()):
            module[keyword] = draw(_DS_TEXT)
    if draw(st.booleans()):
        module["VOILUTFunction"] = draw(st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID", "X"]))
    if draw(st.booleans()):
        module["PresentationLUTShape"] = draw(st.sampled_from(["IDENTITY", "INVERSE", "??"]))
    for keyword in draw(st.lists(st.sampled_from(sorted(_HOSTILE)), max_size=3, unique=True)):
        module[keyword] = draw(_HOSTILE[keyword])
    return module


#: Values that break one field of an otherwise valid module.
_HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "Rows": st.sampled_from([0, 30000, 65535]),
    "Columns": st.sampled_from([0, 30000, 65535]),
    "NumberOfFrames": st.sampled_from([0, -1, 100000]),
    "SamplesPerPixel": st.sampled_from([0, 3, 4]),
    "PlanarConfiguration": st.sampled_from([1, 7]),
    "BitsAllocated": st.sampled_from([0, 1, 12, 24, 64]),
    "BitsStored": st.integers(0, 40),
    "HighBit": st.integers(0, 50),
    "PixelRepresentation": st.sampled_from([1, 2]),
    "PhotometricInterpretation": st.sampled_from(_PHOTOMETRICS),
    # The pixel data is shorter, longer or missing.
    "length_delta": st.sampled_from([-1, -7, 5, None]),
}


def _expected_bytes(m: dict[str, Any]) -> int:
    frames = m["NumberOfFrames"] if isinstance(m["NumberOfFrames"], int) else 1
    pixels = m["Rows"] * m["Columns"] * max(frames, 1) * max(m["SamplesPerPixel"], 1)
    if m["BitsAllocated"] == 1:
        return (pixels + 7) // 8
    return pixels * max(m["BitsAllocated"], 8) // 8


def _write(module: dict[str, Any], folder: Path) -> Path:
    """Write ``module`` as a file; values pydicom would refuse to write are written anyway."""
    m = dict(module)
    tsyntax = m.pop("transfer_syntax")
    delta = m.pop("length_delta")
    rng = np.random.default_rng(m.pop("seed"))
    big, little = tsyntax == ImplicitVRLittleEndian, tsyntax != ExplicitVRBigEndian
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "FUZZ"
    ds.Modality = "CR"
    for keyword, value in m.items():
        if isinstance(value, str) and keyword in _TEXT_NUMBERS:
            # Written as raw bytes: pydicom refuses to hold "abc" as a DS value at all.
            raw = value.encode("ascii") + (b" " if len(value) % 2 else b"")
            tag = pydicom.datadict.tag_for_keyword(keyword)
            ds._dict[Tag(tag)] = RawDataElement(Tag(tag), "DS", len(raw), raw, 0, big, little)
        elif value is not None:
            setattr(ds, keyword, value)
    # Never more than 1 MiB of pixel data is written, whatever the header declares.
    size = 0 if delta is None else max(0, min(_expected_bytes(module), 1 << 20) + delta)
    data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    if tsyntax == RLELossless:
        data = encapsulate([_rle_or_noise(ds, data, rng)])
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OB" if m["BitsAllocated"] <= 8 else "OW"
    if tsyntax == RLELossless:
        ds["PixelData"].VR = "OB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = tsyntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / f"fuzz-{next(_counter)}.dcm"
    mode = pydicom_config.settings.writing_validation_mode
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
    try:
        ds.save_as(path, enforce_file_format=True, little_endian=None, implicit_vr=None)
    finally:
        pydicom_config.settings.writing_validation_mode = mode
    return path


def _rle_or_noise(ds: Dataset, data: bytes, rng: np.random.Generator) -> bytes:
    """A real RLE frame of an 8-bit grey module (at most 16 x 16, whatever the header declares:
    a valid stream for a smaller image), else random bytes."""
    try:
        if ds.BitsAllocated != 8 or ds.SamplesPerPixel != 1:
            raise ValueError("not a plain 8-bit frame")
        rows, cols = max(1, min(int(ds.Rows), 16)), max(1, min(int(ds.Columns), 16))
        frame = rng.integers(0, 256, (rows, cols), dtype=np.uint8)
        copy = Dataset()
        copy.update(ds)
        copy.Rows, copy.Columns, copy.NumberOfFrames = rows, cols, 1
        copy.file_meta = FileMetaDataset()
        copy.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        copy.PixelData = frame.tobytes()
        copy.compress(RLELossless, frame, encoding_plugin="pydicom")
        return next(pydicom.encaps.generate_frames(copy.PixelData, number_of_frames=1))
    except Exception:  # noqa: BLE001 - the fuzz input is invalid: random bytes it is
        return rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()


def _check_refusal(err: PneumoViewError, path: Path) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert text.startswith(f"{path.name}: "), text
    assert err.reason.strip(), text


def _module(**changes: Any) -> dict[str, Any]:
    """A valid 16 x 16 8-bit MONOCHROME2 module with ``changes``: a fixed example."""
    module: dict[str, Any] = {
        "Rows": 16,
        "Columns": 16,
        "NumberOfFrames": None,
        "SamplesPerPixel": 1,
        "PlanarConfiguration": None,
        "BitsAllocated": 8,
        "BitsStored": 8,
        "HighBit": 7,
        "PixelRepresentation": 0,
        "PhotometricInterpretation": "MONOCHROME2",
        "transfer_syntax": ExplicitVRLittleEndian,
        "length_delta": 0,
        "seed": 0,
    }
    module.update(changes)
    return module


#: Cases found by fuzzing (or by hand) that once went wrong; hypothesis runs them every time.
_FOUND = [
    # An RLE header declaring 30000 x 30000 pixels: the decoder reserved 900 MB for it.
    _module(Rows=30000, Columns=30000, transfer_syntax=RLELossless),
    # A deflated header declaring 30000 x 30000 x 16 bits.
    _module(
        Rows=30000, Columns=30000, BitsAllocated=16, transfer_syntax=DeflatedExplicitVRLittleEndian
    ),
    # Rescale Slope 1e36: float32 overflow, NaN cast to uint8 on screen.
    _module(BitsAllocated=16, BitsStored=16, HighBit=15, RescaleSlope="1e+36"),
    # SIGMOID far outside its window: exp() overflow.
    _module(VOILUTFunction="SIGMOID", WindowCenter="1e+06", WindowWidth="1"),
]


@given(module=pixel_modules(), frame=st.sampled_from([0, 0, 1, -1]))
@example(module=_FOUND[0], frame=0)
@example(module=_FOUND[1], frame=0)
@example(module=_FOUND[2], frame=0)
@example(module=_FOUND[3], frame=0)
def test_random_pixel_module_renders_or_is_refused_in_one_line(module, frame):
    """``load_image`` + ``render``: a uint8 display image without numpy overflow or NaN
    warnings, or a one-line file error."""
    quiet_pydicom()
    with tempfile.TemporaryDirectory() as tmp, rss_cap(), warnings.catch_warnings():
        # A numpy overflow or NaN cast means garbage on screen, not just noise: it fails.
        warnings.simplefilter("error", RuntimeWarning)
        path = _write(module, Path(tmp))
        try:
            header = read_header(path)
        except PneumoViewError as err:
            _check_refusal(err, path)
        else:
            assert header.PatientID == "FUZZ"
        try:
            image = load_image(path, frame)
        except PneumoViewError as err:
            _check_refusal(err, path)
            event("refused")
            return
        display = render(image)
        event("rendered")
        assert display.dtype == np.uint8
        assert display.shape[:2] == image.shape
