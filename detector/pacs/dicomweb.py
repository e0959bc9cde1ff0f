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


def _sop_uid_of(part: bytes | bytearray) -> str:
    """The SOPInstanceUID of a DICOM file (Part 10, with its File Meta), ``""`` if not one."""
    try:
        ds = pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True)
        return text_value(ds.get("SOPInstanceUID"))
    except (pydicom.errors.InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError):
        return ""


class DicomwebClient:
    """A DICOMweb server (``http(s)://host:port/dicom-web``)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.label = server.label
        session = requests.Session()
        if server.token:
            session.headers["Authorization"] = f"Bearer {server.token}"
        elif server.username or server.password:
            session.auth = (server.username, server.password)
        session.verify = server.ca_bundle or True
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

    def _fetch_series(
        self,
        study_uid: str,
        series_uid: str,
        refs: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> list[InstanceRef]:
        """One WADO-RS series request; each wanted part written as sent as soon as it is whole.

        Returns the images of ``refs`` it did not bring (parts that are not a DICOM file, or
        that the series did not hold), for one request each. On cancel it stops reading
        (closing the connection) and returns nothing.
        """
        wanted = {ref.sop_uid: ref for ref in refs}
        url = f"{self.server.url}/studies/{study_uid}/series/{series_uid}"
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
                for part in self._client._decode_multipart_message(response, stream=True):
                    if cancel.is_set():
                        return []
                    ref = wanted.pop(_sop_uid_of(part), None)
                    if ref is None:  # already here, not asked for, or not a DICOM file
                        continue
                    sink.write(ref.sop_uid, bytes(part))
                    on_instance(ref)
                    if not wanted:
                        break
        return [ref for ref in refs if ref.sop_uid in wanted]

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
