"""Retrieve into a folder: atomic files, skip what is there, keep what arrived when the server dies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from detector.pacs.client import open_client
from detector.pacs.dimse import DimseClient
from detector.pacs.errors import PacsError
from detector.pacs.query import InstanceRef
from detector.pacs.retrieve import IN_FLIGHT, FolderSink, retrieve
from detector.pacs.servers import parse_url
from tests.detector.pacs.conftest import OUR_AET, Orthanc, _start, make_study


class TestFolderSink:
    def test_refuses_a_uid_that_is_a_path(self, tmp_path: Path) -> None:
        """A peer's SOPInstanceUID never becomes a path outside the folder."""
        sink = FolderSink(tmp_path / "out")
        with pytest.raises(ValueError, match="is not a UID"):
            sink.write("../../evil", b"x")
        assert not (tmp_path / "evil").exists()
        assert not sink.has("../../evil")

    def test_written_whole_no_temp_left(self, tmp_path: Path) -> None:
        sink = FolderSink(tmp_path / "out")
        path = sink.write("1.2.3", b"DICM")
        assert path == tmp_path / "out" / "1.2.3.dcm"
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["1.2.3.dcm"]
        assert sink.has("1.2.3") and not sink.has("1.2.4")


@pytest.fixture
def lone_orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """An Orthanc of this test's own, which the test stops and starts again."""
    o = _start(tmp_path / "orthanc", auth=False)
    yield o
    o.stop()


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_server_dies_mid_retrieve_then_resume(
    lone_orthanc: Orthanc, tmp_path: Path, protocol: str
) -> None:
    """Orthanc is killed once the first image is on disk, in the middle of the one study
    request (40 images of 1 MB: more than the writers hold in flight plus what the socket
    buffers hold, so the answer is cut): what arrived is kept whole,
    the error is one line saying how many, and once the server is back a second retrieve (the
    folder is no longer empty: it lists the images) fetches the rest."""
    study = make_study(
        tmp_path / "in",
        patient_id="MID",
        accession="M",
        date="20240101",
        images=40,
        series=2,
        size=1024,
    )
    for path in study.files:
        lone_orthanc.upload(path)
    url = lone_orthanc.web_url if protocol == "dicomweb" else lone_orthanc.dimse_url
    server = parse_url(url, calling_aet=OUR_AET, connect_timeout=3.0)
    out = tmp_path / "out"

    def _kill_after_first(done: int, total: int) -> None:
        if done == 1:
            lone_orthanc.stop(hard=True)

    with pytest.raises(PacsError) as info:
        retrieve(
            open_client(server), [study.study_uid], FolderSink(out), on_progress=_kill_after_first
        )
    message = str(info.value)
    kept = sorted(out.iterdir())
    assert 1 <= len(kept) < 40 and all(p.suffix == ".dcm" for p in kept)
    assert message.startswith(f"{server.label}: ")
    assert f"{len(kept)} of 40 images are in" in message and "run the same command again" in message
    assert "\n" not in message
    sent = {pydicom.dcmread(p).PixelData for p in study.files}
    assert all(pydicom.dcmread(p).PixelData in sent for p in kept)

    lone_orthanc.start()
    report = retrieve(open_client(server), [study.study_uid], FolderSink(out))
    assert (report.total, report.skipped, report.fetched, report.missing) == (
        40,
        len(kept),
        40 - len(kept),
        [],
    )
    expected = sorted(f"{pydicom.dcmread(p).SOPInstanceUID}.dcm" for p in study.files)
    assert sorted(p.name for p in out.iterdir()) == expected


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_cancel_then_resume(lone_orthanc: Orthanc, tmp_path: Path, protocol: str) -> None:
    """A cancel set once the first image is on disk stops the study request without an error
    (images already received are finished, never cut); every file is whole, and the next
    retrieve fetches exactly the rest. More images than the writers hold in flight, so the
    transfer must stop before the end."""
    images = IN_FLIGHT + 8
    study = make_study(
        tmp_path / "in", patient_id="CAN", accession="C", date="20240101", images=images, size=512
    )
    for path in study.files:
        lone_orthanc.upload(path)
    url = lone_orthanc.web_url if protocol == "dicomweb" else lone_orthanc.dimse_url
    server = parse_url(url, calling_aet=OUR_AET)
    cancel = threading.Event()
    out = tmp_path / "out"
    report = retrieve(
        open_client(server),
        [study.study_uid],
        FolderSink(out),
        cancel=cancel,
        on_progress=lambda done, _total: cancel.set() if done == 1 else None,
    )
    kept = sorted(out.iterdir())
    assert report.cancelled and 1 <= report.fetched == len(kept) < images
    sent = {pydicom.dcmread(p).PixelData for p in study.files}
    assert all(pydicom.dcmread(p).PixelData in sent for p in kept)
    again = retrieve(open_client(server), [study.study_uid], FolderSink(out))
    assert (again.skipped, again.fetched, again.missing, again.cancelled) == (
        len(kept),
        images - len(kept),
        [],
        False,
    )


class _ListingPeer:
    """A peer whose image list holds a UID that is a path (what a hostile PACS could send)."""

    label = "peer"

    def find(self, query: object) -> list[object]:
        return []

    def list_instances(self, study_uid: str) -> list[InstanceRef]:
        return [
            InstanceRef(study_uid, "1.1", "../../escape"),
            InstanceRef(study_uid, "1.1", "1.2.3"),
        ]

    def count_instances(self, study_uid: str) -> int:
        return 2

    def fetch_study(self, study_uid: str, sink: FolderSink, cancel: object, on: Any) -> bool:
        return False  # this peer cannot send a study whole: the images are listed

    def fetch(
        self, instances: list[InstanceRef], sink: FolderSink, cancel: object, on_instance: Any
    ) -> None:
        for ref in instances:
            sink.write(ref.sop_uid, b"DICM")
            on_instance(ref)


def test_image_uid_that_is_a_path_is_skipped(tmp_path: Path) -> None:
    """Only real UIDs are fetched; the other is reported missing and nothing leaves the folder."""
    report = retrieve(_ListingPeer(), ["1.1"], FolderSink(tmp_path / "out"))
    assert (report.total, report.fetched, report.skipped, report.missing) == (
        2,
        1,
        0,
        ["../../escape"],
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["1.2.3.dcm"]
    assert not (tmp_path / "escape.dcm").exists()


def test_dimse_association_sends_without_nagle_delay(orthanc: Orthanc) -> None:
    """Every DIMSE association sets TCP_NODELAY (C-GET image by image waited on delayed ACKs)."""
    client = open_client(parse_url(orthanc.dimse_url, calling_aet=OUR_AET))
    assert isinstance(client, DimseClient)
    ae = client._ae()
    ae.add_requested_context(Verification)
    with client._associate(ae) as assoc:
        assert assoc.dul.socket is not None
        sock = assoc.dul.socket.socket
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_writer_threads_end_with_the_retrieve(orthanc: Orthanc, tmp_path: Path) -> None:
    """The window retrieves many studies, one sink each: no writer thread outlives its retrieve."""
    orthanc.clear()
    study = make_study(tmp_path / "in", patient_id="THR", accession="T", date="20240101", images=3)
    for path in study.files:
        orthanc.upload(path)
    before = {t.name for t in threading.enumerate()}
    for index in range(3):
        report = retrieve(
            open_client(parse_url(orthanc.web_url)),
            [study.study_uid],
            FolderSink(tmp_path / f"out{index}"),
        )
        assert report.fetched == 3
    after = {t.name for t in threading.enumerate()} - before
    assert not [name for name in after if name.startswith("pv-retrieve-write")]
