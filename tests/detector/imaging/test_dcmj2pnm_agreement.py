"""`pneumoview convert --overlays` against DCMTK's `dcmj2pnm` (issue 20, "done when").

Every grayscale image in pydicom's test data (plus its lazily fetched files, only if already in
the local cache: nothing downloads) that has a VOI window or VOI LUT and that both programs
decode is converted by both, with the file's first VOI LUT (``+Wl 1``) or else its first window
(``+Wi 1``), the first frame and every overlay plane (dcmj2pnm's default ``+O 0``), and must
agree within one grey level on >= 99.99% of pixels. Every file that is not compared is listed
below with the reason, and that list is checked against the files themselves.

Generated files cover what the bundled data lacks: VOI LUTs of 8/12/16 bits, SIGMOID and
LINEAR_EXACT, rescale, MONOCHROME1, signed pixels, overlays clipped at the border, ROI planes,
per-frame overlays and overlays in the high bits of the pixel data. Grayscale files without a
window are compared with one explicit window (``--window C W`` / ``+Ww C W``).
The table of results is in docs/notes/dcmj2pnm-agreement.md.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_files
from pydicom.data.data_manager import get_data_dir, get_url_map
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits
from pydicom.sequence import Sequence

from detector import cli
from detector.imaging.decode import load_image
from detector.imaging.dicom_write import new_image_dataset, save_dataset
from tests.detector.imaging.test_overlays import high_bit_file

DCMJ2PNM = shutil.which("dcmj2pnm")
pytestmark = pytest.mark.skipif(
    DCMJ2PNM is None, reason="dcmj2pnm (DCMTK: apt-get install dcmtk) is not installed"
)

ROOT = Path(pydicom.data.__file__).parent / "test_files"
#: Agreement asked for: within one grey level on this share of the pixels of every file.
SHARE = 0.9999

NOT_GRAYSCALE = "not grayscale"
NO_WINDOW = "grayscale without a VOI window or VOI LUT (compared with an explicit window below)"
DCMTK_NO_J2K = "dcmj2pnm (DCMTK 3.6.7) has no JPEG 2000 decoder"
DCMTK_NO_JLS = "dcmj2pnm has no JPEG-LS decoder (that is dcml2pnm)"

#: The bundled image files that are not compared, and why (paths relative to ``ROOT``).
EXCLUDED: dict[str, str] = {
    **{
        name: f"{NOT_GRAYSCALE} ({photometric})"
        for name, photometric in (
            ("ExplVR_BigEnd.dcm", "RGB"),
            ("GDCMJ2K_TextGBR.dcm", "YBR_RCT"),
            ("SC_jpeg_no_color_transform.dcm", "RGB"),
            ("SC_jpeg_no_color_transform_2.dcm", "RGB"),
            ("SC_rgb_dcmtk_+eb+cr.dcm", "RGB"),
            ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "YBR_FULL"),
            ("SC_rgb_dcmtk_+eb+cy+n2.dcm", "YBR_FULL"),
            ("SC_rgb_dcmtk_+eb+cy+np.dcm", "YBR_FULL_422"),
            ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "YBR_FULL_422"),
            ("SC_rgb_dcmtk_+eb+cy+s4.dcm", "YBR_FULL"),
            ("SC_rgb_gdcm_KY.dcm", "RGB"),
            ("SC_rgb_jls_lossy_line.dcm", "RGB"),
            ("SC_rgb_jls_lossy_sample.dcm", "RGB"),
            ("SC_rgb_jpeg.dcm", "RGB"),
            ("SC_rgb_jpeg_app14_dcmd.dcm", "RGB"),
            ("SC_rgb_jpeg_dcmd.dcm", "RGB"),
            ("SC_rgb_jpeg_dcmtk.dcm", "YBR_FULL"),
            ("SC_rgb_jpeg_gdcm.dcm", "RGB"),
            ("SC_rgb_jpeg_lossy_gdcm.dcm", "YBR_FULL"),
            ("SC_rgb_rle.dcm", "RGB"),
            ("SC_rgb_rle_16bit.dcm", "RGB"),
            ("SC_rgb_rle_16bit_2frame.dcm", "RGB"),
            ("SC_rgb_rle_2frame.dcm", "RGB"),
            ("SC_rgb_rle_32bit.dcm", "RGB"),
            ("SC_rgb_rle_32bit_2frame.dcm", "RGB"),
            ("SC_rgb_small_odd.dcm", "RGB"),
            ("SC_rgb_small_odd_big_endian.dcm", "RGB"),
            ("SC_rgb_small_odd_jpeg.dcm", "YBR_FULL"),
            ("SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422"),
            ("examples_jpeg2k.dcm", "YBR_RCT"),
            ("examples_palette.dcm", "PALETTE COLOR"),
            ("examples_rgb_color.dcm", "RGB"),
            ("examples_ybr_color.dcm", "YBR_FULL_422"),
        )
    },
    **{
        name: NO_WINDOW
        for name in (
            "CT_small.dcm",
            "JPEG-lossy.dcm",
            "JPEG2000-embedded-sequence-delimiter.dcm",
            "JPEG2000.dcm",
            "JPEGLSNearLossless_08.dcm",
            "JPEGLSNearLossless_16.dcm",
            "JPGExtended.dcm",
            "badVR.dcm",
            "image_dfl.dcm",
            "liver_1frame.dcm",
            "liver_expb_1frame.dcm",
            "rtdose.dcm",
            "rtdose_1frame.dcm",
            "rtdose_expb.dcm",
            "rtdose_expb_1frame.dcm",
            "rtdose_rle.dcm",
            "rtdose_rle_1frame.dcm",
        )
    },
    "693_J2KI.dcm": DCMTK_NO_J2K,
    "J2K_pixelrep_mismatch.dcm": DCMTK_NO_J2K,
    "MR_small_jp2klossless.dcm": DCMTK_NO_J2K,
    "MR_small_jpeg_ls_lossless.dcm": DCMTK_NO_JLS,
    "MR_truncated.dcm": "neither decodes: pixel data truncated (8130 of 8192 bytes)",
}

#: Grayscale files without a window, compared with an explicit window, that do not agree or
#: are not compared, and why. Who is right was checked case by case.
EXPLICIT_WINDOW_EXCEPTIONS: dict[str, str] = {
    "JPEG2000-embedded-sequence-delimiter.dcm": DCMTK_NO_J2K,
    "JPEG2000.dcm": DCMTK_NO_J2K,
    "JPEGLSNearLossless_08.dcm": DCMTK_NO_JLS,
    "JPEGLSNearLossless_16.dcm": DCMTK_NO_JLS,
    "JPEG-lossy.dcm": "only DCMTK decodes it: pylibjpeg refuses its 12-bit lossy stream (decoder "
    "issue, not the grey pipeline); we refuse it in one line",
    "badVR.dcm": "only DCMTK decodes it: Number of Frames is '1A'; we refuse it in one line",
    "rtdose_expb.dcm": "the standard leaves it open: 32-bit pixels as OW in the retired "
    "Explicit VR Big Endian; pydicom wrote whole 32-bit big-endian values, DCMTK reads 16-bit "
    "OW words (low word first); we read them as pydicom does, so the image equals "
    "rtdose.dcm's (the same data in little endian) value for value",
    "rtdose_expb_1frame.dcm": "as rtdose_expb.dcm",
}
#: Lossy JPEG: ISO/IEC 10918-2 lets decoders' IDCTs differ by a little; a 12-bit difference of 1
#: is 2 grey levels under the narrow window used. Within 3 levels everywhere instead.
LOSSY_TOLERANCE = {"JPGExtended.dcm": 3}


def _relative(path: str | Path) -> str:
    return Path(path).relative_to(ROOT).as_posix() if ROOT in Path(path).parents else str(path)


def _classify(path: Path) -> str:
    """``"compare"``, ``"not an image"``, ``"not grayscale (PI)"`` or :data:`NO_WINDOW`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's own odd files warn as they are read
            ds = pydicom.dcmread(path)
    except Exception:  # noqa: BLE001 - README, JSON, .dump files: not DICOM
        return "not an image"
    if "PixelData" not in ds or "Rows" not in ds or "Columns" not in ds:
        return "not an image"
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return f"{NOT_GRAYSCALE} ({photometric})"
    if "VOILUTSequence" not in ds and not ("WindowCenter" in ds and "WindowWidth" in ds):
        return NO_WINDOW
    return "compare"


def _bundled() -> list[Path]:
    return sorted(Path(p) for p in get_testdata_files() if Path(p).is_file())


def _cached_external() -> list[Path]:
    """pydicom's lazily fetched test files that are already in the local cache (no download)."""
    folder = Path(get_data_dir())
    return sorted(folder / name for name in get_url_map() if (folder / name).is_file())


def _compared() -> list[Path]:
    files = [p for p in _bundled() if _relative(p) not in EXCLUDED and _classify(p) == "compare"]
    return files + [p for p in _cached_external() if _classify(p) == "compare"]


def _ours(src: Path, out: Path, *flags: str) -> np.ndarray:
    with contextlib.redirect_stderr(io.StringIO()) as err:
        rc = cli.main(["convert", str(src), "--out", str(out), "--workers", "1", *flags])
    assert rc == 0, err.getvalue()
    (png,) = out.glob("*.png")
    return np.asarray(Image.open(png)).astype(int)


def _dcmtk(src: Path, out: Path, *flags: str) -> np.ndarray:
    assert DCMJ2PNM is not None
    target = out / "dcmtk.png"
    done = subprocess.run(
        [DCMJ2PNM, "--write-png", *flags, str(src), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return np.asarray(Image.open(target)).astype(int)


def _voi_flags(src: Path) -> list[str]:
    """dcmj2pnm's choice matching ours: the first VOI LUT when there is one, else window 1."""
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    return ["+Wl", "1"] if "VOILUTSequence" in ds else ["+Wi", "1"]


def agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Share of pixels within one grey level."""
    assert ours.shape == theirs.shape
    return float((np.abs(ours - theirs) <= 1).mean())


# -- pydicom's files ---------------------------------------------------------------------------


def test_every_bundled_image_is_compared_or_excluded_with_its_reason():
    """The exclusion list is complete and true: each entry's reason matches the file."""
    seen = set()
    for path in _bundled():
        kind, name = _classify(path), _relative(path)
        seen.add(name)
        if name in EXCLUDED:
            reason = EXCLUDED[name]
            if reason.startswith(NOT_GRAYSCALE) or reason == NO_WINDOW:
                assert reason == kind, name
            else:  # a decoding reason: the file is otherwise one to compare
                assert kind == "compare", name
        else:
            assert kind in ("compare", "not an image"), f"{name}: {kind} but not listed"
    assert set(EXCLUDED) <= seen  # no stale entry
    assert len(_compared()) >= 38


@pytest.mark.parametrize("src", _compared(), ids=_relative)
def test_agrees_with_dcmj2pnm(tmp_path, src):
    """Within one grey level of dcmj2pnm on >= 99.99% of pixels, overlays burnt by both."""
    ours = _ours(src, tmp_path / "ours", "--overlays")
    theirs = _dcmtk(src, tmp_path, *_voi_flags(src))
    assert agreement(ours, theirs) >= SHARE


def _explicit_window_cases() -> list[Path]:
    return [ROOT / name for name, why in sorted(EXCLUDED.items()) if why == NO_WINDOW]


@pytest.mark.parametrize("src", _explicit_window_cases(), ids=_relative)
def test_grayscale_without_window_agrees_under_an_explicit_window(tmp_path, src):
    """Decoding and modality checked too: one window over the middle of the modality range."""
    name = _relative(src)
    if name in EXPLICIT_WINDOW_EXCEPTIONS:
        pytest.skip(EXPLICIT_WINDOW_EXCEPTIONS[name])
    lo, hi = load_image(src).modality_range
    center, width = f"{(lo + hi) / 2:g}", f"{max((hi - lo) / 2, 2.0):g}"
    ours = _ours(src, tmp_path / "ours", "--window", center, width)
    theirs = _dcmtk(src, tmp_path, "+Ww", center, width)
    if name in LOSSY_TOLERANCE:
        assert np.abs(ours - theirs).max() <= LOSSY_TOLERANCE[name]
        assert agreement(ours, theirs) >= 0.999
    else:
        assert agreement(ours, theirs) >= SHARE


def test_32_bit_big_endian_reads_as_its_little_endian_twin():
    """The reason given for rtdose_expb.dcm: its pixels are rtdose.dcm's, value for value."""
    little, big = load_image(ROOT / "rtdose.dcm"), load_image(ROOT / "rtdose_expb.dcm")
    np.testing.assert_array_equal(little.stored, big.stored)
    assert int(big.stored.min()) == 795000 and int(big.stored.max()) == 1254000


def test_whole_test_folder_through_both_without_a_crash(tmp_path, capsys):
    """Every file of the folder: convert refuses in one line each, dcmj2pnm never crashes."""
    rc = cli.main(
        ["convert", str(ROOT), "--out", str(tmp_path / "all"), "--overlays", "--workers", "1"]
    )
    err = capsys.readouterr().err
    assert rc == 1  # some files are not images
    assert "Traceback" not in err
    refusals = [line for line in err.splitlines() if line.startswith(str(ROOT))]
    assert len(refusals) >= 70
    assert all(": " in line[len(str(ROOT)) :] for line in refusals)
    assert len(list((tmp_path / "all").glob("*.png"))) >= 80
    assert DCMJ2PNM is not None
    for path in sorted(p for p in ROOT.rglob("*") if p.is_file()):
        done = subprocess.run(
            [DCMJ2PNM, "--quiet", str(path), str(tmp_path / "t.pgm")],
            capture_output=True,
            timeout=120,
        )
        assert done.returncode >= 0, f"dcmj2pnm crashed on {path}"


# -- generated files ---------------------------------------------------------------------------

#: A 20 x 30 outline with a filled block: the plane drawn in the generated files.
BOX = np.zeros((20, 30), dtype=bool)
BOX[2:18, 3] = BOX[2:18, 26] = BOX[2, 3:27] = BOX[17, 3:27] = True
BOX[8:12, 10:20] = True


def _ramp(frames: int = 1, rows: int = 64, cols: int = 80) -> np.ndarray:
    base = np.arange(rows * cols).reshape(rows, cols) * 4095 // (rows * cols - 1)
    if frames == 1:
        return base.astype(np.uint16)
    return np.stack([base // (k + 1) for k in range(frames)]).astype(np.uint16)


def _plane(
    ds: Dataset,
    masks: np.ndarray,
    *,
    group: int = 0x6000,
    origin: tuple[int, int] = (1, 1),
    kind: str = "G",
    frames: int | None = None,
    frame_origin: int | None = None,
) -> None:
    rows, cols = masks.shape[-2:]
    for elem, vr, value in (
        (0x0010, "US", rows),
        (0x0011, "US", cols),
        (0x0040, "CS", kind),
        (0x0050, "SS", list(origin)),
        (0x0100, "US", 1),
        (0x0102, "US", 0),
    ):
        ds.add_new((group, elem), vr, value)
    if frames is not None:
        ds.add_new((group, 0x0015), "IS", frames)
        ds.add_new((group, 0x0051), "US", frame_origin or 1)
    ds.add_new((group, 0x3000), "OW", pack_bits(masks.astype(np.uint8).ravel()))


def _window(**extra: object) -> Dataset:
    return new_image_dataset(_ramp(), bits_stored=12, WindowCenter=2048, WindowWidth=4096, **extra)


def _clipped() -> Dataset:
    ds = _window()
    _plane(ds, BOX, origin=(50, 60))  # runs past the bottom right corner
    return ds


def _roi(**extra: object) -> Dataset:
    ds = _window(**extra)
    _plane(ds, BOX, origin=(10, 20), kind="R")
    return ds


def _mono1_graphics() -> Dataset:
    ds = _window(PhotometricInterpretation="MONOCHROME1")
    _plane(ds, BOX, origin=(10, 20))
    return ds


def _roi_over_graphics() -> Dataset:
    ds = _window()
    _plane(ds, BOX, origin=(5, 5), kind="G")
    _plane(ds, BOX, group=0x6002, origin=(10, 12), kind="R")
    return ds


def _per_frame() -> Dataset:
    ds = new_image_dataset(_ramp(3), bits_stored=12, WindowCenter=1500, WindowWidth=3000)
    _plane(ds, np.stack([BOX, ~BOX]), origin=(5, 5), frames=2, frame_origin=2)
    return ds


def _high_bit(frames: int = 1, signed: bool = False) -> Dataset:
    values = _ramp(frames)
    bits = np.zeros(values.shape, dtype=bool)
    bits[..., 10:30, 10:40] = True
    if frames > 1:
        bits[1:, 40:50, 50:70] = True  # frame 2 has its own marker
    if signed:
        values = (values.astype(np.int32) - 2048).astype(np.int16)
        return high_bit_file(values, bits, WindowCenter=0, WindowWidth=4096)
    return high_bit_file(values, bits, WindowCenter=2048, WindowWidth=4096)


def _voi_lut(bits: int) -> Dataset:
    ds = new_image_dataset(_ramp(), bits_stored=12, WindowCenter=100, WindowWidth=50)
    item = Dataset()
    n = 2048
    item.LUTDescriptor = [n, 1000, bits]
    item.LUTData = (np.arange(n) * (2**bits - 1) // (n - 1)).astype(np.uint16).tolist()
    item["LUTData"].VR = "US"
    ds.VOILUTSequence = Sequence([item])
    return ds


def _plain(**attrs: object) -> Dataset:
    return new_image_dataset(_ramp(), bits_stored=12, **attrs)


GENERATED: dict[str, tuple[Callable[[], Dataset], int]] = {
    "graphics clipped at the corner": (_clipped, 1),
    "ROI plane": (_roi, 1),
    "ROI plane, MONOCHROME1": (lambda: _roi(PhotometricInterpretation="MONOCHROME1"), 1),
    "ROI plane over a graphics plane": (_roi_over_graphics, 1),
    "per-frame overlay, frame 1 (none)": (_per_frame, 1),
    "per-frame overlay, frame 2": (_per_frame, 2),
    "per-frame overlay, frame 3": (_per_frame, 3),
    "high-bit overlay": (_high_bit, 1),
    "high-bit overlay, signed pixels": (lambda: _high_bit(signed=True), 1),
    "high-bit overlay, frame 1 of 2": (lambda: _high_bit(frames=2), 1),
    "MONOCHROME1, graphics plane": (_mono1_graphics, 1),
    "SIGMOID": (lambda: _plain(WindowCenter=1000, WindowWidth=1500, VOILUTFunction="SIGMOID"), 1),
    "LINEAR_EXACT": (
        lambda: _plain(WindowCenter=1000, WindowWidth=1500, VOILUTFunction="LINEAR_EXACT"),
        1,
    ),
    "rescale to HU": (
        lambda: _plain(WindowCenter=-24, WindowWidth=400, RescaleSlope=1, RescaleIntercept=-1024),
        1,
    ),
    "rescale slope 0.5": (
        lambda: _plain(WindowCenter=500, WindowWidth=800, RescaleSlope=0.5, RescaleIntercept=10),
        1,
    ),
    "VOI LUT 8 bits (before a window)": (lambda: _voi_lut(8), 1),
    "VOI LUT 12 bits": (lambda: _voi_lut(12), 1),
    "VOI LUT 16 bits": (lambda: _voi_lut(16), 1),
    "signed 12-bit": (
        lambda: new_image_dataset(
            (_ramp().astype(np.int32) - 2048).astype(np.int16),
            bits_stored=12,
            WindowCenter=0,
            WindowWidth=2000,
        ),
        1,
    ),
    "two windows, the first used": (
        lambda: _plain(WindowCenter=[1000, 3000], WindowWidth=[500, 1000]),
        1,
    ),
}


@pytest.mark.parametrize("case", list(GENERATED))
def test_generated_file_agrees_with_dcmj2pnm(tmp_path, case):
    """Within one grey level of dcmj2pnm on >= 99.99% of pixels (frame as named)."""
    build, frame = GENERATED[case]
    src = tmp_path / "in.dcm"
    save_dataset(build(), src)
    ours = _ours(src, tmp_path / "ours", "--overlays", "--frame", str(frame - 1))
    theirs = _dcmtk(src, tmp_path, "+F", str(frame), *_voi_flags(src))
    assert agreement(ours, theirs) >= SHARE


def test_the_generated_overlays_are_drawn(tmp_path):
    """The generated planes do show (so agreement is not two plain images agreeing)."""
    for build, frame, white in ((_high_bit, 1, 600), (_per_frame, 2, 100)):
        src = tmp_path / f"{white}.dcm"
        save_dataset(build(), src)
        plain = _ours(src, tmp_path / f"plain{white}", "--frame", str(frame - 1))
        burnt = _ours(src, tmp_path / f"burnt{white}", "--overlays", "--frame", str(frame - 1))
        assert int((burnt != plain).sum()) >= white


def test_high_bit_overlay_of_frame_2_is_frame_2s_own(tmp_path):
    """Where we differ from dcmj2pnm on purpose: high-bit overlays of a multi-frame image.

    Each frame's pixel data carries its own overlay bits, so frame 2 shows frame 2's bits (the
    block at rows 40-49, columns 50-69 that frame 1 lacks). dcmj2pnm draws frame 1's bits on
    every frame (it treats the embedded plane as one overlay frame). PS3.3 C.9.3 (retired for
    embedded overlays since 2004) does not say which frame's bits an embedded plane without
    Number of Frames in Overlay means; the bits stored with the frame are the natural reading.
    """
    src = tmp_path / "in.dcm"
    save_dataset(_high_bit(frames=2), src)
    plain = _ours(src, tmp_path / "plain", "--frame", "1")
    burnt = _ours(src, tmp_path / "burnt", "--overlays", "--frame", "1")
    expected = np.zeros((64, 80), dtype=bool)
    expected[10:30, 10:40] = True
    expected[40:50, 50:70] = True
    assert (burnt[expected] == 255).all()
    np.testing.assert_array_equal(burnt[~expected], plain[~expected])
