"""``pneumoview --selftest``: check that this installation (source or frozen build) works.

Each check prints one line, ``PASS name`` or ``FAIL name: reason``, then a final line
``N passed, N failed``; the exit code is 0 only when every check passed. The checks:

- ``decode <syntax>``: a DICOM of each supported transfer syntax is decoded and rendered.
  Uncompressed, RLE, JPEG Baseline, JPEG Lossless and JPEG 2000 files are generated here
  (pydicom's RLE and JPEG 2000 encoders, Pillow, :mod:`detector.imaging.jpeg_lossless`); nothing here
  writes JPEG Extended 12-bit or JPEG-LS, so pydicom's own bundled test files of those syntaxes
  are decoded instead. Lossless ones must come back bit-exact.
- ``model <name>``: each shipped checkpoint is loaded and run on an image, on the CPU.
- ``review core``: a box is drawn in a new session file, the image marked reviewed, the
  labels CSV exported, re-read, and the session reopened.
- ``window``: the demo study opens in the main window (offscreen), the demo model runs on the
  image on screen through the GUI's worker, a box is drawn and the image marked reviewed
  through the window's review controller, and its labels CSV is exported and re-read.

Everything is written to a temporary folder (settings, cache, session, exports) and removed
afterwards; the user's settings and sessions are never touched. Qt is imported only by the
window check, so the decoding and model checks also report on a machine whose Qt cannot load.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

#: Seconds the window check waits for each step (opening, model loading, detection).
STEP_TIMEOUT_S = 180.0

#: Transfer syntaxes nothing in PneumoView can write: pydicom's bundled test file of each.
PYDICOM_TEST_FILES = {
    "JPEG Extended 12-bit": "JPGExtended.dcm",
    "JPEG-LS": "MR_small_jpeg_ls_lossless.dcm",
}


class CheckFailed(Exception):
    """A check's one-line reason for failing."""


# -- decoding --------------------------------------------------------------------------------


def _chest(size: int = 96, bits: int = 8) -> np.ndarray:
    """A small grey test image with structure (two dark 'lungs' in a brighter body)."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = 0.7 - 0.25 * (((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    body = body - 0.25 * (((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    img = (body + rng.normal(0, 0.03, (size, size))) * ((1 << bits) - 1)
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.clip(img, 0, (1 << bits) - 1).astype(dtype)


def write_codec_samples(folder: Path) -> dict[str, tuple[Path, np.ndarray | None]]:
    """DICOMs of every syntax this installation can write: ``{name: (path, lossless pixels)}``.

    The pixels are the ones a lossless syntax must give back (``None`` for lossy ones).
    """
    from pydicom.uid import JPEG2000Lossless, RLELossless

    from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset
    from detector.imaging.jpeg_lossless import compress_jpeg_lossless

    samples: dict[str, tuple[Path, np.ndarray | None]] = {}
    pixels8, pixels12 = _chest(bits=8), _chest(bits=12)

    def write(name: str, pixels: np.ndarray, bits: int, compress: Callable[[Any], Any]) -> None:
        ds = new_image_dataset(pixels, bits_stored=bits, PatientID=f"selftest-{len(samples)}")
        compress(ds)
        path = folder / f"{name.replace(' ', '_')}.dcm"
        save_dataset(ds, path)
        samples[name] = (path, None if name == "JPEG Baseline" else pixels)

    write("uncompressed", pixels12, 12, lambda ds: ds)
    write("RLE", pixels12, 12, lambda ds: ds.compress(RLELossless))
    write("JPEG Baseline", pixels8, 8, compress_jpeg_baseline)
    write("JPEG Lossless", pixels12, 12, compress_jpeg_lossless)
    write("JPEG 2000", pixels12, 12, lambda ds: ds.compress(JPEG2000Lossless))
    return samples


def check_decode(path: Path, expected: np.ndarray | None) -> str:
    """Decode and render ``path``; lossless data must equal ``expected``."""
    from detector.imaging.decode import load_image
    from detector.imaging.read import DicomReadError
    from detector.imaging.render import render

    try:
        image = load_image(path)
    except DicomReadError as exc:
        raise CheckFailed(str(exc)) from None
    display = render(image)
    if display.dtype != np.uint8 or display.size == 0:
        raise CheckFailed(f"rendered {display.dtype} {display.shape}, expected uint8 pixels")
    if int(display.max()) == int(display.min()):
        raise CheckFailed("the rendered image is blank")
    if expected is not None and not np.array_equal(image.stored, expected):
        raise CheckFailed("decoded pixels differ from the encoded ones")
    rows, cols = display.shape[:2]
    return f"{image.header.file_meta.TransferSyntaxUID.name}, {cols}x{rows}"


def check_fast_jpeg(path: Path) -> str:
    """Grey JPEG Baseline goes through libjpeg-turbo (simplejpeg), not only pydicom's fallback."""
    import pydicom
    import simplejpeg

    from detector.imaging.decode import load_image
    from detector.imaging.jpeg_baseline import decode_grey_baseline

    fast = decode_grey_baseline(pydicom.dcmread(path), 0, 1)
    if not isinstance(fast, np.ndarray):
        raise CheckFailed(f"libjpeg-turbo did not decode it ({fast or 'simplejpeg missing'})")
    if not np.array_equal(fast, load_image(path).stored):
        raise CheckFailed("the viewer's pixels are not libjpeg-turbo's")
    return f"simplejpeg {simplejpeg.__version__}"


def pydicom_test_file(name: str) -> Path:
    """One of pydicom's bundled test files (never downloaded)."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if not found:
        raise CheckFailed(f"pydicom's test file {name} is not installed")
    return Path(str(found))


# -- models ----------------------------------------------------------------------------------


def check_model(checkpoint: Path, image: Path, *, must_find: bool = False) -> str:
    """Load ``checkpoint`` on the CPU and run it on ``image`` (``must_find``: a box at all)."""
    from detector.model.inference import Detector

    if not checkpoint.is_file():
        raise CheckFailed(f"{checkpoint}: not found")
    detector = Detector(checkpoint, device="cpu", batch_size=1).load()
    (result,) = detector.predict([str(image)], threshold=0.0)
    if result.error is not None:
        raise CheckFailed(result.error)
    for det in result.detections:
        if not np.all(np.isfinite(det.box_xyxy)):
            raise CheckFailed("a detection box is not finite")
    if must_find and not result.detections:
        raise CheckFailed(f"no box at all on {image.name}, which has an opacity")
    best = max((d.score for d in result.detections), default=0.0)
    return f"{len(result.detections)} box(es) at threshold 0, best score {best:.2f}"


def opacity_image(demo_dir: Path) -> Path:
    """The first demo phantom with an opacity in its ``labels.csv``."""
    rows = read_label_rows(demo_dir / "labels.csv")
    patient = next((r["patientId"] for r in rows if r["Target"] == "1"), None)
    if patient is None:
        raise CheckFailed("the demo study has no phantom with an opacity")
    return demo_dir / f"{patient}.dcm"


# -- review ----------------------------------------------------------------------------------


def read_label_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def expect_box_row(rows: list[dict[str, str]], patient_id: str, xywh: tuple[int, ...]) -> None:
    """The exported labels hold exactly the drawn box for ``patient_id``."""
    mine = [r for r in rows if r["patientId"] == patient_id]
    got = [tuple(round(float(r[k])) for k in ("x", "y", "width", "height")) for r in mine]
    if got != [xywh] or mine[0]["Target"] != "1":
        raise CheckFailed(f"labels CSV row for {patient_id}: {mine}, expected box {xywh}")


def check_review_core(folder: Path) -> str:
    """Draw a box in a session file, mark reviewed, export labels, re-read, reopen."""
    from detector.review.export import export_review
    from detector.review.store import open_session

    session = folder / "selftest.pneumoview-session"
    state, store = open_session(session, reviewer="selftest")
    try:
        state.add_image("img-1", "selftest-patient", path="selftest.dcm")
        box = state.add_box("img-1", (10.0, 20.0, 60.0, 100.0))
        state.mark_reviewed("img-1")
        out = folder / "labels.csv"
        rows = export_review(state, out, "labels")
    finally:
        store.close()
    expect_box_row(read_label_rows(out), "selftest-patient", (10, 20, 50, 80))
    reopened, store = open_session(session, create=False)
    try:
        kept = [b.id for b in reopened.boxes("img-1")]
    finally:
        store.close()
    if kept != [box.id]:
        raise CheckFailed(f"the reopened session holds boxes {kept}, expected {[box.id]}")
    return f"{rows} row(s) exported and re-read, session reopened"


# -- window ----------------------------------------------------------------------------------


def _wait(app: Any, done: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT_S) -> None:
    """Run the event loop until ``done()`` (or fail after ``timeout`` seconds)."""
    from PySide6 import QtCore

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def check_window(folder: Path, demo_files: list[Path], demo_model: Path) -> str:
    """The demo study in the main window, the demo model on it, a review edit and export."""
    from PySide6 import QtCore

    from viewer.main_window import MainWindow
    from viewer.platform.qt_app import create_app
    from viewer.platform.settings import open_qsettings

    if not demo_files:
        raise CheckFailed("no demo study to open")
    app = create_app()
    window = MainWindow(settings=open_qsettings(folder / "pneumoview.ini"))
    window.persist_preferences = False
    events: dict[str, Any] = {"shown": 0, "results": [], "failed": []}
    window.image_shown.connect(lambda _inst: events.__setitem__("shown", events["shown"] + 1))
    window.detection.result_ready.connect(lambda key, res: events["results"].append(res))
    window.detection.failed.connect(lambda msg: events["failed"].append(msg))
    try:
        window.resize(1200, 800)
        window.show()
        window.open_paths([str(p) for p in demo_files])
        _wait(app, lambda: events["shown"] > 0 and not window.is_scanning, "the first image")
        opened = len(window.state.images())
        if opened != len(demo_files):
            raise CheckFailed(f"{opened} of {len(demo_files)} demo images opened")
        window.load_model(str(demo_model))
        _wait(app, lambda: window.detection.has_model or events["failed"], "the model")
        window.detect_current()
        _wait(app, lambda: events["results"] or events["failed"], "the detection")
        if events["failed"]:
            raise CheckFailed(f"detection failed: {events['failed'][0]}")
        result = events["results"][0]
        if getattr(result, "error", None):
            raise CheckFailed(f"detection failed: {result.error}")
        review = window.review
        key = review.current_key
        if key is None:
            raise CheckFailed("no image on screen")
        patient = review.review.image(key).patient_id
        review.review.add_box(key, (30.0, 40.0, 130.0, 190.0))
        review.mark_reviewed_and_next()
        out = folder / "window-labels.csv"
        review.export(str(out), "labels")
        if not out.is_file():
            raise CheckFailed("the window's labels export wrote no file")
        expect_box_row(read_label_rows(out), patient, (30, 40, 100, 150))
        boxes = len(result.detections)
    finally:
        window.close()
        app.processEvents()
        QtCore.QThreadPool.globalInstance().waitForDone(30_000)
        window.deleteLater()
        app.processEvents()
    return f"{opened} demo images, demo model found {boxes} box(es), edit exported"


# -- runner ----------------------------------------------------------------------------------


def run_selftest(out: TextIO | None = None) -> int:
    """Run every check, print the report, return the exit code (0: all passed)."""
    stream = out or sys.stdout
    passed = failed = 0

    def report(name: str, check: Callable[[], str]) -> None:
        nonlocal passed, failed
        try:
            detail = check()
        except Exception as exc:  # noqa: BLE001 - a check's failure is its report line
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, CheckFailed):
                reason = f"{type(exc).__name__}: {reason}"
            stream.write(f"FAIL {name}: {reason}\n")
            failed += 1
        else:
            stream.write(f"PASS {name}" + (f" ({detail})" if detail else "") + "\n")
            passed += 1
        stream.flush()

    with tempfile.TemporaryDirectory(prefix="pneumoview-selftest-") as tmp:
        root = Path(tmp)
        # Settings, cache and sessions of this run live in the temporary folder.
        for env, sub in (
            ("PNEUMOVIEW_CONFIG_DIR", "config"),
            ("PNEUMOVIEW_CACHE_DIR", "cache"),
            ("PNEUMOVIEW_DATA_DIR", "data"),
        ):
            os.environ[env] = str(root / sub)

        samples: dict[str, tuple[Path, np.ndarray | None]] = {}
        try:
            samples = write_codec_samples(root)
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            first = (str(exc).strip().splitlines() or [""])[0]
            stream.write(f"FAIL write test images: {type(exc).__name__}: {first}\n")
            failed += 1
        for name, (path, expected) in samples.items():
            report(f"decode {name}", lambda p=path, e=expected: check_decode(p, e))
        if "JPEG Baseline" in samples:
            jpeg = samples["JPEG Baseline"][0]
            report("decode JPEG Baseline with libjpeg-turbo", lambda: check_fast_jpeg(jpeg))
        for name, test_file in PYDICOM_TEST_FILES.items():
            report(f"decode {name}", lambda f=test_file: check_decode(pydicom_test_file(f), None))

        from detector.model.choice import shipped_model
        from detector.synth.phantoms import make_demo_study

        demo_dir = root / "demo"
        demo_files: list[Path] = []

        def demo() -> str:
            make_demo_study(demo_dir)
            demo_files.extend(sorted(demo_dir.glob("*.dcm")))
            if not demo_files:
                raise CheckFailed("the demo study holds no DICOM")
            return f"{len(demo_files)} phantoms"

        report("demo study", demo)
        for name in ("real", "demo"):
            report(
                f"model {name}",
                lambda n=name: check_model(
                    Path(shipped_model(f"{n}.pt")), opacity_image(demo_dir), must_find=n == "demo"
                ),
            )
        report("review core", lambda: check_review_core(root))
        report("window", lambda: check_window(root, demo_files, Path(shipped_model("demo.pt"))))
    stream.write(f"{passed} passed, {failed} failed\n")
    stream.flush()
    return 0 if failed == 0 else 1
