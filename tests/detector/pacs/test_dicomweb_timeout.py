"""A DICOMweb server that accepts and never answers is asked once, not five times."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from detector.pacs.dicomweb import DicomwebClient
from detector.pacs.errors import PacsError
from detector.pacs.query import StudyQuery
from detector.pacs.servers import parse_url


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A listening socket nobody reads from: connections complete, no answer ever comes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s


def _accepted(listener: socket.socket) -> int:
    listener.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_silent_server_is_one_attempt_and_one_line(silent: socket.socket) -> None:
    port = silent.getsockname()[1]
    server = parse_url(f"http://127.0.0.1:{port}/dicom-web").with_timeout(0.5)
    server = replace(server, read_timeout=0.5)
    with pytest.raises(PacsError) as caught:
        DicomwebClient(server).find(StudyQuery())
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"http://127.0.0.1:{port}/dicom-web: ")
    assert _accepted(silent) == 1
