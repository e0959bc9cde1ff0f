"""PACS benchmarks (issue 18): find 1,000 studies, retrieve 100 images, against a real Orthanc.

Run: ``.venv/bin/python bench/bench_pacs.py [--runs 5]``. Starts a private Orthanc (with the
DICOMweb plugin) on free loopback ports in a temporary folder, loads 1,000 one-image studies
and one study of 100 realistic images (1024x1024 JPEG Baseline CR) through Orthanc's REST API,
then measures with :mod:`detector.pacs` (the code ``pneumoview pacs`` runs, no mock):

* ``find``: a study search listing every study, over DICOMweb (QIDO-RS) and DIMSE (C-FIND);
* ``get``: the 100-image study into an empty folder each run, over DICOMweb (WADO-RS) and DIMSE
  (C-GET), and the time until the first image is whole on disk vs the last;
* the baseline, in the same run: the same 100 files downloaded with one HTTP GET each of
  Orthanc's own ``/instances/{id}/file`` (urllib) into a folder.

Orthanc is stopped at the end, also on Ctrl+C. Prints a Markdown table for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pydicom
from pydicom.uid import JPEGBaseline8Bit
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelGet,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import detector.pacs.retrieve as retrieve_module  # noqa: E402
from bench.common import chest_field, machine_line, median_seconds, print_table  # noqa: E402
from detector.imaging.dicom_write import (  # noqa: E402
    CR_IMAGE_STORAGE,  # noqa: E402
    compress_jpeg_baseline,
    new_image_dataset,
)
from detector.pacs.dicomweb import DicomwebClient, quiet_dicomweb  # noqa: E402
from detector.pacs.dimse import DimseClient, quiet_pynetdicom  # noqa: E402
from detector.pacs.query import StudyQuery  # noqa: E402
from detector.pacs.retrieve import FolderSink, retrieve  # noqa: E402
from detector.pacs.servers import parse_url  # noqa: E402
from tests.orthanc_server import MISSING, Orthanc, OrthancError, free_port, installed  # noqa: E402

GETSCU = shutil.which("getscu")
PACS_AET = "PVBENCHPACS"
OUR_AET = "PVBENCH"


def dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def load(orthanc: Orthanc, studies: int, images: int) -> tuple[str, list[str]]:
    """Upload ``studies`` one-image studies and one study of ``images`` 1024x1024 JPEG CRs.

    Returns the big study's UID and the Orthanc IDs of its images.
    """
    tiny = (chest_field((16, 16), 0) * 255).astype(np.uint8)
    for index in range(studies):
        ds = new_image_dataset(
            tiny,
            PatientID=f"BENCH{index:05d}",
            PatientName=f"BENCH^{index:05d}",
            StudyDate=f"2024{1 + index % 12:02d}{1 + index % 28:02d}",
            AccessionNumber=f"A{index:06d}",
            Modality="CR",
        )
        orthanc.request("POST", "/instances", dicom_bytes(ds))
    study_uid = pydicom.uid.generate_uid()
    series_uid = pydicom.uid.generate_uid()
    field = (chest_field((1024, 1024), 1) * 255).astype(np.uint8)
    rng = np.random.default_rng(2)
    ids = []
    for index in range(images):
        noise = rng.integers(0, 6, field.shape, dtype=np.uint8)
        ds = new_image_dataset(
            np.clip(field.astype(np.int16) + noise - 3, 0, 255).astype(np.uint8),
            PatientID="BENCHBIG",
            PatientName="BENCH^BIG",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uid,
            StudyDate="20240601",
            Modality="CR",
            InstanceNumber=index + 1,
        )
        compress_jpeg_baseline(ds, quality=92)
        answer = json.loads(orthanc.request("POST", "/instances", dicom_bytes(ds)))
        ids.append(str(answer["ID"]))
    return study_uid, ids


def empty(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def baseline_rest(orthanc: Orthanc, ids: list[str], out: Path) -> tuple[float, float]:
    """One GET of /instances/{id}/file per image, each written to a file: (first, last) s."""
    t0 = time.perf_counter()
    first = 0.0
    for index, orthanc_id in enumerate(ids):
        data = orthanc.request("GET", f"/instances/{orthanc_id}/file")
        (out / f"{orthanc_id}.dcm").write_bytes(data)
        if index == 0:
            first = time.perf_counter() - t0
    return first, time.perf_counter() - t0


def baseline_rest_durable(orthanc: Orthanc, ids: list[str], out: Path) -> tuple[float, float]:
    """The baseline's downloads, each file made durable as ``pacs get`` makes it (temp name,
    fsync, rename, on the same writer threads): the baseline with the same guarantee."""
    t0 = time.perf_counter()
    first: list[float] = []
    sink = FolderSink(out)

    def whole() -> None:
        if not first:
            first.append(time.perf_counter() - t0)

    for index, orthanc_id in enumerate(ids):
        sink.write_soon(
            f"1.2.826.0.1.{index + 1}",
            orthanc.request("GET", f"/instances/{orthanc_id}/file"),
            whole,
        )
    sink.close()
    sink.wait_written()
    return first[0], time.perf_counter() - t0


def pacs_get(
    client: DicomwebClient | DimseClient, study_uid: str, out: Path
) -> tuple[float, float]:
    """``retrieve`` of one study into an empty folder: (first image on disk, last) s."""
    t0 = time.perf_counter()
    first: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == 1 and not first:
            first.append(time.perf_counter() - t0)

    report = retrieve(client, [study_uid], FolderSink(out), on_progress=progress)
    last = time.perf_counter() - t0
    if report.fetched != report.total or report.missing:
        raise SystemExit(f"retrieve fetched {report.fetched} of {report.total}")
    return first[0], last


def wado_series_floor(
    web: DicomwebClient, study_uid: str, series_uid: str, out: Path
) -> tuple[float, float]:
    """Diagnostic: the whole series in ONE WADO-RS request, each part written plainly."""
    t0 = time.perf_counter()
    first = 0.0
    url = f"{web.server.url}/studies/{study_uid}/series/{series_uid}"
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    client = web._client
    response = client._session.get(url, headers={"Accept": accept}, stream=True, timeout=60)
    response.raise_for_status()
    for index, part in enumerate(client._decode_multipart_message(response, stream=True)):
        (out / f"{index}.dcm").write_bytes(part)
        if index == 0:
            first = time.perf_counter() - t0
    return first, time.perf_counter() - t0


def cget_series_floor(
    dimse: DimseClient, study_uid: str, series_uid: str, out: Path
) -> tuple[float, float]:
    """Diagnostic: the whole series in ONE C-GET, each image written plainly as it arrives."""
    ae = dimse._ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CR_IMAGE_STORAGE, JPEGBaseline8Bit)
    arrived: list[float] = []

    def on_store(event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID)
        (out / f"{sop}.dcm").write_bytes(event.encoded_dataset())
        arrived.append(time.perf_counter())
        return 0

    ds = pydicom.Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    roles = [build_role(CR_IMAGE_STORAGE, scp_role=True)]
    with dimse._associate(ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
        t0 = time.perf_counter()
        for _status, _ident in assoc.send_c_get(ds, StudyRootQueryRetrieveInformationModelGet):
            pass
        last = time.perf_counter() - t0
    return arrived[0] - t0, last


def pacs_get_no_fsync(
    client: DicomwebClient | DimseClient, study_uid: str, out: Path
) -> tuple[float, float]:
    """Diagnostic: :func:`pacs_get` with each file written plainly (temp + rename, no fsync),
    as the baseline writes: what the durability of each file costs."""

    def _no_fsync(path: str | os.PathLike[str], data: bytes) -> None:
        temp = Path(f"{os.fspath(path)}.bench.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)

    saved = retrieve_module.atomic_write_bytes
    retrieve_module.atomic_write_bytes = _no_fsync
    try:
        return pacs_get(client, study_uid, out)
    finally:
        retrieve_module.atomic_write_bytes = saved


def getscu_study(port: int, study_uid: str, out: Path) -> tuple[float, float]:
    """Reference DIMSE client: DCMTK's ``getscu`` of the study (one study-level C-GET)."""
    assert GETSCU is not None
    t0 = time.perf_counter()
    subprocess.run(  # noqa: S603 - DCMTK, our arguments
        [
            GETSCU,
            "-S",
            "-aet",
            OUR_AET,
            "-aec",
            PACS_AET,
            "127.0.0.1",
            str(port),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study_uid}",
            "-od",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return 0.0, time.perf_counter() - t0


def write_cost(data: bytes, count: int, out: Path, durable: bool) -> tuple[float, float]:
    """Diagnostic: ``count`` files written through FolderSink (fsync) or plainly."""
    t0 = time.perf_counter()
    sink = FolderSink(out)
    for index in range(count):
        if durable:
            sink.write(f"1.2.3.{index}", data)
        else:
            (out / f"1.2.3.{index}.dcm").write_bytes(data)
    return 0.0, time.perf_counter() - t0


def medians(fn: Callable[[], tuple[float, float]], runs: int) -> tuple[float, float]:
    fn()  # warm-up
    samples = [fn() for _ in range(runs)]
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    if not installed():
        print(MISSING, file=sys.stderr)
        return 1
    quiet_dicomweb()
    quiet_pynetdicom()
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="pv-bench-pacs-") as tmp_name:
        tmp = Path(tmp_name)
        orthanc = Orthanc(
            tmp / "orthanc", PACS_AET, modalities={"pneumoview": (OUR_AET, free_port())}, timeout=60
        )
        try:
            orthanc.start()
            t0 = time.perf_counter()
            study_uid, ids = load(orthanc, args.studies, args.images)
            print(f"loaded {args.studies} + 1 studies in {time.perf_counter() - t0:.1f} s")
            web = DicomwebClient(parse_url(orthanc.web_url))
            dimse = DimseClient(parse_url(orthanc.dimse_url, calling_aet=OUR_AET))
            everything = StudyQuery()
            want = args.studies + 1
            n = args.images
            for client in (web, dimse):
                found = len(client.find(everything))
                if found != want:
                    raise SystemExit(f"{client.label}: found {found} studies, not {want}")
            find_web = median_seconds(lambda: web.find(everything), args.runs)
            find_dimse = median_seconds(lambda: dimse.find(everything), args.runs)
            out = tmp / "out"
            rest = medians(lambda: baseline_rest(orthanc, ids, empty(out)), args.runs)
            get_web = medians(lambda: pacs_get(web, study_uid, empty(out)), args.runs)
            get_dimse = medians(lambda: pacs_get(dimse, study_uid, empty(out)), args.runs)
            series_uid = web.list_instances(study_uid)[0].series_uid
            web_floor = medians(
                lambda: wado_series_floor(web, study_uid, series_uid, empty(out)), args.runs
            )
            dimse_floor = medians(
                lambda: cget_series_floor(dimse, study_uid, series_uid, empty(out)), args.runs
            )
            web_plain = medians(lambda: pacs_get_no_fsync(web, study_uid, empty(out)), args.runs)
            dimse_plain = medians(
                lambda: pacs_get_no_fsync(dimse, study_uid, empty(out)), args.runs
            )
            dcmtk = (
                medians(lambda: getscu_study(orthanc.dicom_port, study_uid, empty(out)), 3)
                if GETSCU
                else None
            )
            sample = orthanc.request("GET", f"/instances/{ids[0]}/file")
            plain = medians(lambda: write_cost(sample, n, empty(out), False), args.runs)
            durable = medians(lambda: write_cost(sample, n, empty(out), True), args.runs)
            rest2 = medians(lambda: baseline_rest(orthanc, ids, empty(out)), args.runs)
            durable_rest = medians(
                lambda: baseline_rest_durable(orthanc, ids, empty(out)), args.runs
            )
        except OrthancError as err:
            raise SystemExit(str(err)) from None
        finally:
            orthanc.stop()
    base = min(rest[1], rest2[1])
    print(machine_line())
    print(f"median of {args.runs} runs after one warm-up; baseline = the faster of two REST passes")
    print_table(
        ["measurement", "time", "first image", "ratio vs REST", "goal"],
        [
            [f"find {want} studies, DICOMweb (QIDO-RS)", f"{find_web * 1000:.0f} ms", "", "", ""],
            [f"find {want} studies, DIMSE (C-FIND)", f"{find_dimse * 1000:.0f} ms", "", "", ""],
            [
                f"baseline: {n} x GET /instances/{{id}}/file",
                f"{base * 1000:.0f} ms",
                f"{rest[0] * 1000:.0f} ms",
                "1.00x",
                "",
            ],
            [
                f"get {n} images, DICOMweb (WADO-RS)",
                f"{get_web[1] * 1000:.0f} ms",
                f"{get_web[0] * 1000:.0f} ms",
                f"{get_web[1] / base:.2f}x",
                "<= 1.3x",
            ],
            [
                f"get {n} images, DIMSE (C-GET)",
                f"{get_dimse[1] * 1000:.0f} ms",
                f"{get_dimse[0] * 1000:.0f} ms",
                f"{get_dimse[1] / base:.2f}x",
                "<= 1.3x",
            ],
        ],
    )
    print()
    print("Where the time goes (diagnostics, same run; not what `pacs get` does):")
    print_table(
        ["diagnostic", "time", "first image", "ratio vs REST"],
        [
            [
                f"the {n} images in ONE WADO-RS series request, plain writes",
                f"{web_floor[1] * 1000:.0f} ms",
                f"{web_floor[0] * 1000:.0f} ms",
                f"{web_floor[1] / base:.2f}x",
            ],
            [
                f"the {n} images in ONE series-level C-GET, plain writes",
                f"{dimse_floor[1] * 1000:.0f} ms",
                f"{dimse_floor[0] * 1000:.0f} ms",
                f"{dimse_floor[1] / base:.2f}x",
            ],
            [
                "`pacs get` over DICOMweb with plain writes (no fsync, as the baseline)",
                f"{web_plain[1] * 1000:.0f} ms",
                f"{web_plain[0] * 1000:.0f} ms",
                f"{web_plain[1] / base:.2f}x",
            ],
            [
                "`pacs get` over DIMSE with plain writes (no fsync)",
                f"{dimse_plain[1] * 1000:.0f} ms",
                f"{dimse_plain[0] * 1000:.0f} ms",
                f"{dimse_plain[1] / base:.2f}x",
            ],
            [
                "DCMTK getscu, one study-level C-GET (median of 3)",
                f"{dcmtk[1] * 1000:.0f} ms" if dcmtk else "getscu not installed",
                "",
                f"{dcmtk[1] / base:.2f}x" if dcmtk else "",
            ],
            [
                "baseline with each file durable as `pacs get` writes it (temp, fsync, rename)",
                f"{durable_rest[1] * 1000:.0f} ms",
                f"{durable_rest[0] * 1000:.0f} ms",
                f"{durable_rest[1] / base:.2f}x",
            ],
            [f"write {n} files plainly", f"{plain[1] * 1000:.0f} ms", "", ""],
            [
                f"write {n} files through FolderSink (temp, fsync, rename)",
                f"{durable[1] * 1000:.0f} ms",
                "",
                "",
            ],
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
