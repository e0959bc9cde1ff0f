"""WADO-RS retrieves a series in one request, written file by file, resumable and cancellable."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pydicom
import requests

from detector.pacs.dicomweb import DicomwebClient
from detector.pacs.retrieve import IN_FLIGHT, FolderSink, retrieve
from detector.pacs.servers import parse_url
from tests.detector.pacs.conftest import Orthanc, make_study


def _client_counting(orthanc: Orthanc, paths: list[str]) -> DicomwebClient:
    """A client whose session notes the path of every request it sends (a response hook)."""
    client = DicomwebClient(parse_url(orthanc.web_url))

    def _note(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        paths.append(response.request.path_url.split("?")[0])

    client._client._session.hooks["response"].append(_note)
    return client


def test_a_study_comes_in_one_request_byte_identical(orthanc: Orthanc, tmp_path: Path) -> None:
    """Into an empty folder, a study of 5 images in 2 series: ONE WADO-RS study request and no
    image listing (was: a QIDO-RS listing, then a request per series), and each file is the
    PACS's copy byte for byte."""
    orthanc.clear()
    study = make_study(
        tmp_path / "in", patient_id="SER", accession="S", date="20240101", images=5, series=2
    )
    for path in study.files:
        orthanc.upload(path)
    paths: list[str] = []
    out = tmp_path / "out"
    progress: list[tuple[int, int]] = []
    report = retrieve(
        _client_counting(orthanc, paths),
        [study.study_uid],
        FolderSink(out),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert (report.total, report.fetched, report.missing) == (5, 5, [])
    wado = [p for p in paths if f"/studies/{study.study_uid}" in p]
    assert wado == [f"/dicom-web/studies/{study.study_uid}"]
    assert not [p for p in paths if p.endswith("/instances")]  # no image listing
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)  # the total known from the start
    for path in study.files:
        sop = pydicom.dcmread(path).SOPInstanceUID
        ours = (out / f"{sop}.dcm").read_bytes()
        assert ours == orthanc.request("GET", f"/instances/{_orthanc_id(orthanc, sop)}/file")


def _orthanc_id(orthanc: Orthanc, sop: str) -> str:
    body = json.dumps({"Level": "Instance", "Query": {"SOPInstanceUID": sop}}).encode()
    return str(json.loads(orthanc.request("POST", "/tools/find", body))[0])


def test_resume_keeps_what_is_there(orthanc: Orthanc, tmp_path: Path) -> None:
    """Images already in the folder are neither written again nor counted as fetched."""
    orthanc.clear()
    study = make_study(tmp_path / "in", patient_id="RES", accession="R", date="20240101", images=4)
    for path in study.files:
        orthanc.upload(path)
    out = tmp_path / "out"
    first_sop = pydicom.dcmread(study.files[0]).SOPInstanceUID
    FolderSink(out).write(first_sop, b"kept as it was")
    sink = FolderSink(out)
    paths: list[str] = []
    report = retrieve(_client_counting(orthanc, paths), [study.study_uid], sink)
    assert (report.total, report.skipped, report.fetched, report.missing) == (4, 1, 3, [])
    assert (out / f"{first_sop}.dcm").read_bytes() == b"kept as it was"
    series_uid = pydicom.dcmread(study.files[0]).SeriesInstanceUID
    assert [p for p in paths if "/series/" in p] == [
        f"/dicom-web/studies/{study.study_uid}/series/{series_uid}"
    ]  # the folder held an image: listed, then the three missing in one series request
    assert len(sink.written) == 3 and out / f"{first_sop}.dcm" not in sink.written


def test_cancel_during_a_series(orthanc: Orthanc, tmp_path: Path) -> None:
    """In a folder that already holds an image (listed, then one series request), a cancel set
    once the first image is on disk stops reading the series without an error. More images
    than the writers hold in flight, so the reader must stop before the end."""
    orthanc.clear()
    images = IN_FLIGHT + 8
    study = make_study(
        tmp_path / "in", patient_id="CNS", accession="C", date="20240101", images=images, size=512
    )
    for path in study.files:
        orthanc.upload(path)
    cancel = threading.Event()
    out = tmp_path / "out"
    FolderSink(out).write("1.2.3.4", b"another study's image")
    paths: list[str] = []
    report = retrieve(
        _client_counting(orthanc, paths),
        [study.study_uid],
        FolderSink(out),
        cancel=cancel,
        on_progress=lambda done, _total: cancel.set() if done == 1 else None,
    )
    assert [p for p in paths if "/series/" in p]  # the listing path, not the study request
    assert report.cancelled and 1 <= report.fetched == len(list(out.iterdir())) - 1 < images
