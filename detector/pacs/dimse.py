"""DIMSE client (pynetdicom SCU): C-ECHO, study-level C-FIND, C-GET, C-MOVE and C-STORE.

A study retrieved into an empty folder comes in one study-level C-GET (:meth:`DimseClient.
fetch_study`); otherwise retrieval goes image by image over one association (the list of images
comes from an image-level C-FIND), so that images already on disk are skipped and the cancel
event is checked between images. C-GET needs no listening port; C-MOVE asks the PACS to send to a move
destination AE title, which must be this app's storage SCP (started here, on the server's
``store_port``) as the PACS knows it. Images arrive through a C-STORE handler that writes the
bytes as sent (no decoding, so pixel data is byte-identical) and accepts only images it asked for.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from detector.imaging.dicom_write import CR_IMAGE_STORAGE, DX_IMAGE_STORAGE, SECONDARY_CAPTURE
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

#: Transfer syntaxes offered for images we receive, one presentation context each, so that the
#: PACS can send an image in the syntax it is stored in (no transcoding).
RECEIVE_SYNTAXES = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.5",  # RLE
    "1.2.840.10008.1.2.1.99",  # Deflated
)
FALLBACK_CLASSES = (
    CR_IMAGE_STORAGE,
    DX_IMAGE_STORAGE,
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for processing
    SECONDARY_CAPTURE,
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
)
_MAX_CONTEXTS = 127
_PENDING = (0xFF00, 0xFF01)
_STORE_REFUSED = 0xA700


def quiet_pynetdicom(verbose: bool = False) -> None:
    """pynetdicom logs each failure on its own; our one line says it (unless ``--verbose``)."""
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _no_delay(assoc: Association) -> None:
    """Send each PDU at once (TCP_NODELAY); pynetdicom leaves Nagle's algorithm on.

    A retrieve is many small request/answer exchanges (C-GET-RQ, C-STORE-RSP): with Nagle and
    the peer's delayed ACK each can wait tens of milliseconds (bench/bench_pacs.py, issue 18).
    """
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # not a TCP socket (a test double): harmless
            logger.debug("TCP_NODELAY not set: %s", exc)


def _status_of(status: Dataset) -> int | None:
    return int(status.Status) if "Status" in status else None


class DimseClient:
    """A DIMSE peer (``dimse://AET@host:port``).

    Parameters
    ----------
    server : Server
        ``protocol == "dimse"``.
    move_dest : str, optional
        Retrieve with C-MOVE to this AE title instead of C-GET.
    store_port : int
        Port of the storage SCP started for C-MOVE.
    """

    def __init__(self, server: Server, *, move_dest: str = "", store_port: int = 0) -> None:
        self.server = server
        self.label = server.label
        self.move_dest = move_dest
        self.store_port = store_port

    # -- association --------------------------------------------------------------------

    def _ae(self) -> AE:
        ae = AE(ae_title=self.server.calling_aet)
        ae.connection_timeout = self.server.connect_timeout
        ae.acse_timeout = self.server.connect_timeout
        ae.dimse_timeout = self.server.read_timeout
        ae.network_timeout = self.server.read_timeout
        return ae

    def _why_not(self) -> str:
        """Why no association came up, in words (probing the port once)."""
        host, port, timeout = self.server.host, self.server.port, self.server.connect_timeout
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except TimeoutError:
            return f"no answer from {host}:{port} within {timeout:g} s"
        except OSError as exc:
            return f"cannot connect to {host}:{port} ({exc.strerror or exc})"
        return "aborted the association request"

    @contextmanager
    def _associate(self, ae: AE, **kwargs: Any) -> Iterator[Association]:
        assoc = ae.associate(
            self.server.host, self.server.port, ae_title=self.server.called_aet, **kwargs
        )
        if assoc.is_rejected:
            raise PacsError(
                self.label,
                f"refused the association from our AE title {self.server.calling_aet!r} "
                f"to {self.server.called_aet!r} (does the PACS list our AE title?)",
            )
        if not assoc.is_established:
            # pynetdicom reports a refused TCP connection as an aborted association: probe.
            raise PacsError(self.label, self._why_not())
        _no_delay(assoc)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _lost(self, what: str, *, first: bool) -> PacsError:
        """The connection closed during ``what``; before any answer, a PACS that does not
        list our AE title is the usual cause (Orthanc closes the association then)."""
        if first:
            return PacsError(
                self.label,
                f"closed the connection at our {what} (does the PACS list our AE title "
                f"{self.server.calling_aet!r} and allow it to do that?)",
            )
        return PacsError(self.label, f"the connection was lost during {what}")

    # -- C-ECHO ---------------------------------------------------------------------------

    def echo(self) -> None:
        """C-ECHO; raises :class:`PacsError` unless the server answers Success."""
        ae = self._ae()
        ae.add_requested_context(Verification)
        with self._associate(ae) as assoc:
            status = assoc.send_c_echo()
            if _status_of(status) is None:
                raise self._lost("C-ECHO", first=True)
            if status.Status != 0:
                raise PacsError(self.label, f"C-ECHO answered status 0x{status.Status:04X}")

    # -- C-FIND -------------------------------------------------------------------------

    def _find(self, identifier: Dataset, what: str) -> list[Dataset]:
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        found: list[Dataset] = []
        with self._associate(ae) as assoc:
            for status, ident in assoc.send_c_find(
                identifier, StudyRootQueryRetrieveInformationModelFind
            ):
                code = _status_of(status)
                if code is None:
                    raise self._lost(what, first=not found)
                if code in _PENDING:
                    if ident is not None:
                        found.append(ident)
                elif code != 0:
                    raise PacsError(
                        self.label,
                        f"{what} failed with status 0x{code:04X} "
                        f"(is our AE title {self.server.calling_aet!r} allowed to query?)",
                    )
        return found

    def find(self, query: StudyQuery) -> list[StudyResult]:
        """Study-level C-FIND (Study Root)."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for keyword in (
            "StudyInstanceUID",
            "PatientID",
            "PatientName",
            "StudyDate",
            "ModalitiesInStudy",
            "AccessionNumber",
            "StudyDescription",
            "NumberOfStudyRelatedInstances",
        ):
            setattr(ds, keyword, "")
        for keyword, value in query.filters().items():
            setattr(ds, keyword, value)
        results = []
        for ident in self._find(ds, "C-FIND"):
            uid = text_value(ident.get("StudyInstanceUID"))
            if not uid:
                continue
            results.append(
                StudyResult(
                    study_uid=uid,
                    patient_id=text_value(ident.get("PatientID")),
                    patient_name=text_value(ident.get("PatientName")),
                    study_date=text_value(ident.get("StudyDate")),
                    modalities=modalities_value(ident.get("ModalitiesInStudy")),
                    accession=text_value(ident.get("AccessionNumber")),
                    description=text_value(ident.get("StudyDescription")),
                    images=int_value(ident.get("NumberOfStudyRelatedInstances")),
                )
            )
        return results

    def list_instances(self, study_uid: str) -> list[InstanceRef]:
        """The images of one study (image-level C-FIND)."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "IMAGE"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = ""
        ds.SOPInstanceUID = ""
        ds.SOPClassUID = ""
        refs = []
        for ident in self._find(ds, "C-FIND of the study's images"):
            sop = text_value(ident.get("SOPInstanceUID"))
            if sop:
                refs.append(
                    InstanceRef(
                        study_uid=study_uid,
                        series_uid=text_value(ident.get("SeriesInstanceUID")),
                        sop_uid=sop,
                        sop_class_uid=text_value(ident.get("SOPClassUID")),
                    )
                )
        return refs

    # -- C-GET / C-MOVE -----------------------------------------------------------------

    def _store_handler(self, sink: FolderSink, wanted: set[str]) -> Callable[[Any], int]:
        def _on_store(event: Any) -> int:
            sop = str(event.request.AffectedSOPInstanceUID)
            if sop not in wanted:
                logger.debug("refused an image we did not ask for: %s", sop[:70])
                return _STORE_REFUSED
            try:
                sink.write(sop, event.encoded_dataset())
            except (OSError, ValueError) as exc:
                logger.error("%s: cannot write (%s)", sink.out_dir, exc)
                return _STORE_REFUSED
            return 0x0000

        return _on_store

    def _get_ae(self, classes: list[str]) -> tuple[AE, list[Any]]:
        """An AE asking for C-GET and offering to receive ``classes`` in every syntax of
        :data:`RECEIVE_SYNTAXES` (as many contexts as DICOM allows), with the SCP roles."""
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        roles = []
        for sop_class in classes:
            for syntax in RECEIVE_SYNTAXES:
                if len(ae.requested_contexts) >= _MAX_CONTEXTS:
                    break
                ae.add_requested_context(sop_class, syntax)
            roles.append(build_role(sop_class, scp_role=True))
        return ae, roles

    @staticmethod
    def _image_identifier(ref: InstanceRef) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = "IMAGE"
        ds.StudyInstanceUID = ref.study_uid
        ds.SeriesInstanceUID = ref.series_uid
        ds.SOPInstanceUID = ref.sop_uid
        return ds

    def _run_retrieve(
        self,
        assoc: Association,
        send: Callable[[Dataset], Iterator[tuple[Dataset, Dataset | None]]],
        what: str,
        instances: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None:
        for index, ref in enumerate(instances):
            if cancel.is_set():
                return
            if not assoc.is_established:
                raise self._lost(what, first=False)
            final: int | None = None
            for status, _ident in send(self._image_identifier(ref)):
                final = _status_of(status)
                if final is None:
                    raise self._lost(what, first=index == 0)
            if sink.has(ref.sop_uid):
                on_instance(ref)
            elif final not in (0x0000, 0xB000):
                raise PacsError(
                    self.label,
                    f"{what} of image {ref.sop_uid} failed with status 0x{final or 0:04X}",
                )
            else:
                raise PacsError(self.label, f"{what} of image {ref.sop_uid} sent no image")

    def fetch(
        self,
        instances: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None:
        """C-GET each image over one association (no listening port), or C-MOVE them."""
        if not instances:
            return
        if self.move_dest:
            self._move(instances, sink, cancel, on_instance)
            return
        classes = sorted({r.sop_class_uid for r in instances if r.sop_class_uid})
        ae, roles = self._get_ae(classes or list(FALLBACK_CLASSES))
        handler = self._store_handler(sink, {r.sop_uid for r in instances})
        with self._associate(ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, handler)]) as assoc:
            self._run_retrieve(
                assoc,
                lambda ds: assoc.send_c_get(ds, StudyRootQueryRetrieveInformationModelGet),
                "C-GET",
                instances,
                sink,
                cancel,
                on_instance,
            )

    def count_instances(self, study_uid: str) -> int:
        """The study's image count (study-level C-FIND; 0 when not told or with C-MOVE)."""
        if self.move_dest:
            return 0
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = study_uid
        ds.NumberOfStudyRelatedInstances = ""
        found = [
            ident
            for ident in self._find(ds, "C-FIND of the study")
            if text_value(ident.get("StudyInstanceUID")) == study_uid
        ]
        if len(found) != 1:
            return 0
        return max(0, int_value(found[0].get("NumberOfStudyRelatedInstances")) or 0)

    def fetch_study(
        self,
        study_uid: str,
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> bool:
        """The whole study in ONE study-level C-GET (the PACS sends every image over our
        association: about 5 ms an image against Orthanc instead of 55 ms for one C-GET each).

        Each image is written as sent on a writer thread; images already in the folder are not
        written again. Offers the image classes a chest X-ray study holds
        (:data:`FALLBACK_CLASSES`); an image of another class is refused by the PACS and the
        caller lists and fetches it. A cancel aborts the association. Returns False with C-MOVE
        (the caller lists the images and moves them one by one).
        """
        if self.move_dest:
            return False
        ae, roles = self._get_ae(list(FALLBACK_CLASSES))

        def _on_store(event: Any) -> int:
            sop = str(event.request.AffectedSOPInstanceUID)
            if cancel.is_set() or not is_uid(sop):
                return _STORE_REFUSED
            if sink.has(sop):
                return 0x0000
            ref = InstanceRef(study_uid, "", sop, str(event.request.AffectedSOPClassUID))
            try:
                sink.write_soon(sop, event.encoded_dataset(), lambda: on_instance(ref))
            except (OSError, ValueError) as exc:
                logger.error("%s: cannot write (%s)", sink.out_dir, exc)
                return _STORE_REFUSED
            return 0x0000

        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = study_uid
        handlers = [(evt.EVT_C_STORE, _on_store)]
        with self._associate(ae, ext_neg=roles, evt_handlers=handlers) as assoc:
            answered = False
            for status, _ident in assoc.send_c_get(ds, StudyRootQueryRetrieveInformationModelGet):
                if cancel.is_set():
                    assoc.abort()
                    return True
                code = _status_of(status)
                if code is None:
                    raise self._lost("C-GET", first=not answered)
                answered = True
                if code not in _PENDING and code not in (0x0000, 0xB000):
                    logger.info("%s: study C-GET ended with status 0x%04X", self.label, code)
                    return False
        return True

    def _move(
        self,
        instances: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None:
        """C-MOVE each image to ``move_dest``, received by a storage SCP on ``store_port``."""
        move_dest, store_port = self.move_dest, self.store_port
        scp = AE(ae_title=move_dest)
        scp.supported_contexts = [
            build_context(str(c.abstract_syntax), ALL_TRANSFER_SYNTAXES)
            for c in AllStoragePresentationContexts
        ]
        scp.network_timeout = self.server.read_timeout
        handler = self._store_handler(sink, {r.sop_uid for r in instances})
        try:
            server = scp.start_server(
                ("", store_port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)]
            )
        except OSError as exc:
            raise PacsError(
                self.label, f"cannot listen on port {store_port} for C-MOVE ({exc.strerror or exc})"
            ) from None
        try:
            ae = self._ae()
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            with self._associate(ae) as assoc:
                self._run_retrieve(
                    assoc,
                    lambda ds: assoc.send_c_move(
                        ds, move_dest, StudyRootQueryRetrieveInformationModelMove
                    ),
                    "C-MOVE",
                    instances,
                    sink,
                    cancel,
                    on_instance,
                )
        finally:
            if server is not None:
                server.shutdown()

    # -- C-STORE ------------------------------------------------------------------------

    def store(
        self,
        files: list[tuple[Path, Dataset]],
        cancel: threading.Event,
        on_file: Callable[[Path, str | None], None],
    ) -> None:
        """C-STORE each file (header already read); ``on_file(path, None or reason)``."""
        pending = list(files)
        while pending and not cancel.is_set():
            ae = self._ae()
            batch: list[tuple[Path, Dataset]] = []
            pairs: set[tuple[str, str]] = set()
            for path, ds in pending:
                pair = (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                if pair not in pairs:
                    if len(pairs) >= _MAX_CONTEXTS:
                        continue
                    pairs.add(pair)
                    ae.add_requested_context(*pair)
                batch.append((path, ds))
            pending = [item for item in pending if item not in batch]
            with self._associate(ae) as assoc:
                for index, (path, _ds) in enumerate(batch):
                    if cancel.is_set():
                        return
                    if not assoc.is_established:
                        raise self._lost("C-STORE", first=False)
                    try:
                        status = assoc.send_c_store(path)
                    except (OSError, ValueError) as exc:
                        on_file(path, f"not sent ({exc})")
                        continue
                    code = _status_of(status)
                    if code is None:
                        raise self._lost("C-STORE", first=index == 0)
                    ok = code in (0x0000, 0xB000, 0xB007, 0xB006)
                    on_file(path, None if ok else f"refused with status 0x{code:04X}")
