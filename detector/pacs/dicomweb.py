"""DICOMweb client (dicomweb-client over one ``requests`` session): QIDO-RS, WADO-RS, STOW-RS.

Images are retrieved with WADO-RS in the syntax they are stored in
(``application/dicom; transfer-syntax=*``), so pixel data is byte-identical to the PACS's copy:
a series with several images to fetch in ONE series request whose parts are written as sent,
one file each, as they arrive (one request per image cost 17 ms per image against Orthanc,
bench/bench_pacs.py); what a series request did not bring, one request per image.
Every request has a ``(connect, read)`` timeout; HTTP basic or bearer credentials live in the
session only and never in a message (the messages are worded here, not taken from ``requests``,
whose texts may quote URLs and headers).
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble

from detector.pacs.errors import PacsError
from detector.pacs.query import (
    InstanceRef,
    StudyQuery,
    StudyResult,
    int_value,
    is_uid,
    modalities_value,
    text_value,
)
from detector.pacs.retrieve import FolderSink
from detector.pacs.servers import Server

logger = logging.getLogger(__name__)

#: Whatever syntax the image is stored in (no transcoding by the server).
AS_STORED = (("application/dicom", "*"),)
#: Orthanc serves frames only as this media type (for callers of frame retrieval).
FRAME_MEDIA_TYPES = (("application/octet-stream", "*"),)
STOW_BATCH = 16
QIDO_PAGE = 500
_HTTP_WORDS = {
    401: "401 Unauthorized: the user name, password or token is missing or wrong",
    403: "403 Forbidden: this user may not do that",
    404: "404 Not Found: is the base URL right (it usually ends in /dicom-web)?",
}


def quiet_dicomweb(verbose: bool = False) -> None:
    """dicomweb-client logs request details (URLs, headers) on its own: keep them out of logs."""
    logging.getLogger("dicomweb_client").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _value(item: dict[str, Any], tag: str) -> Any:
    """One value of a DICOM JSON attribute (``None`` when absent)."""
    values = item.get(tag, {}).get("Value") or []
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict):  # PersonName
        return first.get("Alphabetic", "")
    return values if len(values) > 1 else first


#: What reading a part that is not a whole DICOM file raises.
_UNREADABLE = (pydicom.errors.InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError)


def _ref_of(part: bytes | bytearray, study_uid: str) -> InstanceRef | None:
    """The image a WADO-RS part holds (a DICOM file with its File Meta), None if it is not one
    or its SOPInstanceUID is not a UID (a peer's value never becomes a file name otherwise).

    The UID comes from the File Meta (MediaStorageSOPInstanceUID, which PS3.10 makes equal to
    the SOPInstanceUID) when it holds one: reading the whole header took 0.3-0.4 ms an image,
    a third of what a 100-image retrieve spent beyond the transfer (bench/bench_pacs.py). A part
    without a usable File Meta UID is read whole. The series is not read (nobody needs it of an
    image that arrived, as with C-GET).
    """
    fp = io.BytesIO(part)
    try:
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
        sop = text_value(meta.get("MediaStorageSOPInstanceUID"))
        if is_uid(sop):
            return InstanceRef(study_uid, "", sop, text_value(meta.get("MediaStorageSOPClassUID")))
    except _UNREADABLE:
        pass
    try:
        ds = pydicom.dcmread(
            io.BytesIO(part),
            stop_before_pixels=True,
            specific_tags=["SOPInstanceUID", "SeriesInstanceUID", "SOPClassUID"],
        )
        sop = text_value(ds.get("SOPInstanceUID"))
        if not is_uid(sop):
            logger.warning("WADO-RS sent an image whose UID %r is not a UID; skipped", sop[:70])
            return None
        return InstanceRef(
            study_uid=study_uid,
            series_uid=text_value(ds.get("SeriesInstanceUID")),
            sop_uid=sop,
            sop_class_uid=text_value(ds.get("SOPClassUID")),
        )
    except _UNREADABLE:
        return None


def _boundary(content_type: str) -> bytes:
    """The multipart boundary named in a Content-Type header (``b""`` when none)."""
    for item in content_type.split(";")[1:]:
        name, _, value = item.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip().strip('"').encode("utf-8", "replace")
    return b""


class _Session(requests.Session):
    """A ``requests`` session whose CA bundle is the server's, whatever the environment says.

    ``requests`` lets ``$REQUESTS_CA_BUNDLE`` / ``$CURL_CA_BUNDLE`` win over ``Session.verify``
    (psf/requests#3829): on a machine that sets them (this one does) a server's ``ca_bundle``
    was ignored and its certificate refused. Proxies and the rest still come from the
    environment.
    """

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.verify = ca_bundle or True

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        if self.ca_bundle:
            settings["verify"] = self.ca_bundle
        return settings


class DicomwebClient:
    """A DICOMweb server (``http(s)://host:port/dicom-web``)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.label = server.label
        session = _Session(server.ca_bundle)
        if server.token:
            session.headers["Authorization"] = f"Bearer {server.token}"
        elif server.username or server.password:
            session.auth = (server.username, server.password)
        self._client = DICOMwebClient(
            server.url,
            session=session,
            timeout=(server.connect_timeout, server.read_timeout),
        )
        # dicomweb-client retries a failed request 5 times with exponential waits (30 s more
        # for a dead or silent server): one attempt, so the timeout is the timeout.
        self._client.set_http_retry_params(retry=False)

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """Turn a failed request into one :class:`PacsError` line."""
        try:
            yield
        except requests.exceptions.SSLError:
            raise PacsError(self.label, f"{what}: the TLS certificate check failed") from None
        except requests.exceptions.ConnectTimeout:
            raise PacsError(
                self.label, f"{what}: no answer within {self.server.connect_timeout:g} s"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise PacsError(
                self.label, f"{what}: no reply within {self.server.read_timeout:g} s"
            ) from None
        except requests.exceptions.ConnectionError:
            raise PacsError(self.label, f"{what}: cannot connect (refused or lost)") from None
        except requests.exceptions.ChunkedEncodingError:
            raise PacsError(self.label, f"{what}: the connection was lost") from None
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            words = _HTTP_WORDS.get(code, f"HTTP {code}")
            raise PacsError(self.label, f"{what}: {words}") from None
        except (requests.exceptions.RequestException, ValueError, KeyError, TypeError) as exc:
            raise PacsError(self.label, f"{what}: unusable answer ({type(exc).__name__})") from None

    def _search_all(
        self, search: Callable[..., list[dict[str, Any]]], key: str, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """All pages of a QIDO-RS search, :data:`QIDO_PAGE` results at a time.

        dicomweb-client's ``get_remaining`` asks again until a page is empty, which never
        comes from a server that ignores ``offset`` for some filters (Orthanc with
        ModalitiesInStudy): here a page with no new UID, or a short page, ends the search.
        """
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            page = search(limit=QIDO_PAGE, offset=len(items), **kwargs)
            new = [i for i in page if text_value(_value(i, key)) not in seen]
            seen.update(text_value(_value(i, key)) for i in new)
            items.extend(new)
            if len(page) < QIDO_PAGE or not new:
                return items

    def echo(self) -> None:
        """A one-study QIDO-RS search: the server answers, and accepts our credentials."""
        with self._calls("QIDO-RS"):
            self._client.search_for_studies(limit=1)

    def find(self, query: StudyQuery) -> list[StudyResult]:
        """QIDO-RS study search (all pages)."""
        filters: dict[str, Any] = dict(query.filters())
        fields = ["NumberOfStudyRelatedInstances", "ModalitiesInStudy", "StudyDescription"]
        with self._calls("QIDO-RS"):
            items = self._search_all(
                self._client.search_for_studies,
                "0020000D",
                search_filters=filters,
                fields=fields,
            )
        results = []
        for item in items:
            uid = text_value(_value(item, "0020000D"))
            if uid:
                results.append(
                    StudyResult(
                        study_uid=uid,
                        patient_id=text_value(_value(item, "00100020")),
                        patient_name=text_value(_value(item, "00100010")),
                        study_date=text_value(_value(item, "00080020")),
                        modalities=modalities_value(_value(item, "00080061")),
                        accession=text_value(_value(item, "00080050")),
                        description=text_value(_value(item, "00081030")),
                        images=int_value(_value(item, "00201208")),
                    )
                )
        return results

    def list_instances(self, study_uid: str) -> list[InstanceRef]:
        """The images of one study (QIDO-RS instance search)."""
        with self._calls("QIDO-RS"):
            items = self._search_all(
                self._client.search_for_instances, "00080018", study_instance_uid=study_uid
            )
        refs = []
        for item in items:
            sop = text_value(_value(item, "00080018"))
            if sop:
                refs.append(
                    InstanceRef(
                        study_uid=study_uid,
                        series_uid=text_value(_value(item, "0020000E")),
                        sop_uid=sop,
                        sop_class_uid=text_value(_value(item, "00080016")),
                    )
                )
        return refs

    def fetch(
        self,
        instances: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None:
        """WADO-RS the images as stored, each written whole under its SOPInstanceUID.

        A series with several images to fetch comes in one request (:meth:`_fetch_series`);
        the images it did not bring, and single ones, come one request each.
        """
        series: dict[tuple[str, str], list[InstanceRef]] = {}
        for ref in instances:
            series.setdefault((ref.study_uid, ref.series_uid), []).append(ref)
        for (study_uid, series_uid), refs in series.items():
            if cancel.is_set():
                return
            if len(refs) > 1 and is_uid(study_uid) and is_uid(series_uid):
                refs = self._fetch_series(study_uid, series_uid, refs, sink, cancel, on_instance)
            for ref in refs:
                if cancel.is_set():
                    return
                self._fetch_instance(ref, sink)
                on_instance(ref)

    def count_instances(self, study_uid: str) -> int:
        """The study's image count (QIDO-RS NumberOfStudyRelatedInstances; 0 when not told)."""
        with self._calls("QIDO-RS"):
            items = self._client.search_for_studies(
                search_filters={"StudyInstanceUID": study_uid},
                fields=["NumberOfStudyRelatedInstances"],
                limit=2,
            )
        counts = [
            int_value(_value(item, "00201208"))
            for item in items
            if text_value(_value(item, "0020000D")) == study_uid
        ]
        return max(0, counts[0] or 0) if len(counts) == 1 else 0

    def fetch_study(
        self,
        study_uid: str,
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> bool:
        """The whole study in ONE WADO-RS request, each image written as sent as it arrives.

        Images already in the folder are not written again. Returns False when the study UID
        cannot go into a URL (the caller lists the images instead).
        """
        if not is_uid(study_uid):
            return False
        self._stream(
            f"{self.server.url}/studies/{study_uid}", study_uid, None, sink, cancel, on_instance
        )
        return True

    def _fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        refs: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> list[InstanceRef]:
        """One WADO-RS series request for ``refs``; returns those it did not bring (parts that
        are not a DICOM file, or that the series did not hold), for one request each. On
        cancel it stops reading and returns nothing."""
        wanted = {ref.sop_uid: ref for ref in refs}
        url = f"{self.server.url}/studies/{study_uid}/series/{series_uid}"
        self._stream(url, study_uid, wanted, sink, cancel, on_instance)
        sink.wait_written()
        if cancel.is_set():
            return []
        return [ref for ref in refs if not sink.has(ref.sop_uid)]

    def _stream(
        self,
        url: str,
        study_uid: str,
        wanted: dict[str, InstanceRef] | None,
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None:
        """One multipart WADO-RS request read part by part (dicomweb-client's reader); each
        image written as sent (byte-identical) on a writer thread as soon as it is whole.

        ``wanted``: only these images (None: every image not already in the folder). On cancel
        it stops reading, which closes the connection.
        """
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        with self._calls("WADO-RS"):
            response = self._client._session.get(
                url,
                headers={"Accept": accept},
                stream=True,
                timeout=(self.server.connect_timeout, self.server.read_timeout),
            )
            with response:
                response.raise_for_status()
                for part in self._whole_parts(response):
                    if cancel.is_set():
                        return
                    ref = _ref_of(part, study_uid)
                    if ref is None or sink.has(ref.sop_uid):
                        continue  # not a DICOM file with a UID, or already here
                    if wanted is not None:
                        if wanted.pop(ref.sop_uid, None) is None:
                            continue  # not asked for
                    sink.write_soon(ref.sop_uid, bytes(part), functools.partial(on_instance, ref))
                    if wanted is not None and not wanted:
                        break

    def _whole_parts(self, response: requests.Response) -> Iterator[bytes]:
        """The parts of a multipart answer that arrived whole (dicomweb-client's reader).

        That reader also yields what follows the last delimiter when the stream stops in the
        middle of a part (a server that dies: seen against Orthanc killed mid-answer), as if it
        were a whole image. So a part is passed on once the next delimiter came, and the last
        one only when the closing delimiter ``--boundary--`` ended the stream.
        """
        boundary = _boundary(response.headers.get("content-type", ""))
        closing = b"--" + boundary + b"--"
        tail = bytearray()
        chunks = response.iter_content

        def _watched(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            for chunk in chunks(*args, **kwargs):
                tail[:] = (tail + chunk[-len(closing) - 4 :])[-len(closing) - 4 :]
                yield chunk

        setattr(response, "iter_content", _watched)  # noqa: B010 - one response's reader
        held: bytes | None = None
        for part in self._client._decode_multipart_message(response, stream=True):
            if held is not None:
                yield held
            held = part
        if held is not None and (not boundary or bytes(tail).rstrip().endswith(closing)):
            yield held
        elif held is not None:
            logger.debug("%s: the answer stopped in the middle of an image", self.label)

    def _fetch_instance(self, ref: InstanceRef, sink: FolderSink) -> None:
        """One WADO-RS instance request."""
        with self._calls("WADO-RS"):
            ds = self._client.retrieve_instance(
                ref.study_uid, ref.series_uid, ref.sop_uid, media_types=AS_STORED
            )
        buffer = io.BytesIO()
        try:
            pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        except (ValueError, AttributeError, TypeError) as exc:
            raise PacsError(self.label, f"WADO-RS sent an unusable image ({exc})") from None
        sink.write(ref.sop_uid, buffer.getvalue())

    def store(
        self,
        files: list[tuple[Path, Dataset]],
        cancel: threading.Event,
        on_file: Callable[[Path, str | None], None],
    ) -> None:
        """STOW-RS in batches of :data:`STOW_BATCH`; ``on_file(path, None or reason)``."""
        for start in range(0, len(files), STOW_BATCH):
            if cancel.is_set():
                return
            batch = files[start : start + STOW_BATCH]
            datasets = []
            for path, _header in batch:
                try:
                    datasets.append((path, pydicom.dcmread(path)))
                except (OSError, ValueError, pydicom.errors.InvalidDicomError) as exc:
                    on_file(path, f"cannot be read ({exc})")
            if not datasets:
                continue
            with self._calls("STOW-RS"):
                answer = self._client.store_instances([ds for _p, ds in datasets])
            failed = {
                text_value(item.get("ReferencedSOPInstanceUID")): int_value(
                    item.get("FailureReason")
                )
                for item in answer.get("FailedSOPSequence", [])
            }
            for path, ds in datasets:
                code = failed.get(str(ds.SOPInstanceUID))
                on_file(path, None if str(ds.SOPInstanceUID) not in failed else f"refused ({code})")
