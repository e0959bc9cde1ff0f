"""WADO-RS retrieves a series in one request, written file by file, resumable and cancellable."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pydicom
import requests

from detector.pacs.dicomweb import DicomwebClient
from detector.pacs.retrieve import FolderSink, retrieve
from detector.pacs.servers import parse_url
from tests.detector.pacs.conftest import Orthanc, make_study


def _client_counting(orthanc: Orthanc, paths: list[str]) -> DicomwebClient:
    """A client whose session notes the path of every request it sends (a response hook)."""
    client = DicomwebClient(parse_url(orthanc.web_url))

    def _note(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        paths.append(response.request.path_url.split("?")[0])

    client._client._session.hooks["response"].append(_note)
    return client


def test_a_series_comes_in_one_request_byte_identical(orthanc: Orthanc, tmp_path: Path) -> None:
    """5 images of one series: ONE WADO-RS series request (was 5 instance requests), and each
    file is the PACS's copy byte for byte."""
    orthanc.clear()
    study = make_study(tmp_path / "in", patient_id="SER", accession="S", date="20240101", images=5)
    for path in study.files:
        orthanc.upload(path)
    paths: list[str] = []
    out = tmp_path / "out"
    report = retrieve(_client_counting(orthanc, paths), [study.study_uid], FolderSink(out))
    assert (report.total, report.fetched, report.missing) == (5, 5, [])
    wado = [p for p in paths if "/series/" in p]
    assert len(wado) == 1 and wado[0].endswith(
        f"/series/{pydicom.dcmread(study.files[0]).SeriesInstanceUID}"
    )
    for path in study.files:
        sop = pydicom.dcmread(path).SOPInstanceUID
        ours = (out / f"{sop}.dcm").read_bytes()
        assert ours == orthanc._request("GET", f"/instances/{_orthanc_id(orthanc, sop)}/file")


def _orthanc_id(orthanc: Orthanc, sop: str) -> str:
    body = json.dumps({"Level": "Instance", "Query": {"SOPInstanceUID": sop}}).encode()
    return str(json.loads(orthanc._request("POST", "/tools/find", body))[0])


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
    report = retrieve(_client_counting(orthanc, []), [study.study_uid], sink)
    assert (report.total, report.skipped, report.fetched, report.missing) == (4, 1, 3, [])
    assert (out / f"{first_sop}.dcm").read_bytes() == b"kept as it was"
    assert len(sink.written) == 3 and out / f"{first_sop}.dcm" not in sink.written


def test_cancel_during_a_series(orthanc: Orthanc, tmp_path: Path) -> None:
    """A cancel set after the first image stops reading the series there, without an error."""
    orthanc.clear()
    study = make_study(tmp_path / "in", patient_id="CNS", accession="C", date="20240101", images=4)
    for path in study.files:
        orthanc.upload(path)
    cancel = threading.Event()
    out = tmp_path / "out"
    report = retrieve(
        _client_counting(orthanc, []),
        [study.study_uid],
        FolderSink(out),
        cancel=cancel,
        on_progress=lambda done, _total: cancel.set() if done == 1 else None,
    )
    assert report.cancelled and report.fetched == 1 and len(report.missing) == 3
    assert len(list(out.iterdir())) == 1
