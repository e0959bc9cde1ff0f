"""Retrieve studies into a folder: one file per image named by SOPInstanceUID, resumable, atomic.

Each image is written to a temp name beside its final one (``.pv-<pid>-<random>.tmp``), fsynced
and renamed only when whole, so a killed run, a power loss or a server that dies mid-transfer
never leaves a partial file under a final name. The writes run on a few writer threads so that
the fsync of one image overlaps the transfer of the next (bench/bench_pacs.py, issue 18).

Two ways to fetch a study:

* into a folder that held no image when the retrieve started, each study comes whole in ONE
  request (WADO-RS of the study, or one study-level C-GET) with no image listing first; the
  server's image count (one study-level query) gives the progress total, and a study that brings
  fewer images than counted is completed the second way;
* into a folder that already holds images (a resume, or a shared folder), the study's images are
  listed (QIDO-RS / image-level C-FIND) and only the missing ones are fetched.

The cancel event is checked between images; what was whole when it was set is kept.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from detector.files.output import atomic_write_bytes, check_output_dir, remove_stale_temp_files
from detector.pacs.errors import PacsError
from detector.pacs.query import InstanceRef, StudyQuery, StudyResult, is_uid

logger = logging.getLogger(__name__)

SUFFIX = ".dcm"
#: Writer threads: fsync is I/O wait, so a few in parallel overlap it with the transfer.
WRITERS = 8
#: Images received but not yet on disk, at most (the transfer waits beyond that).
IN_FLIGHT = 16
#: ``on_progress(done, total)`` after each image (done counts skipped ones too).
Progress = Callable[[int, int], None]


class FolderSink:
    """The folder images are retrieved into.

    Parameters
    ----------
    out_dir : Path
        Created when missing; checked writable before any transfer.

    Attributes
    ----------
    started_empty : bool
        The folder held no image when the sink was made (every study can come whole).
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = check_output_dir(out_dir)
        remove_stale_temp_files(self.out_dir)
        self.started_empty = not any(self.out_dir.glob(f"*{SUFFIX}"))
        self.written: list[Path] = []
        self._mine: set[str] = set()  # images this sink wrote whole
        self._claimed: set[str] = set()  # images handed to write_soon
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._room = threading.BoundedSemaphore(IN_FLIGHT)
        self._failed: BaseException | None = None

    def path_for(self, sop_uid: str) -> Path:
        """Final path of image ``sop_uid``.

        Raises
        ------
        ValueError
            ``sop_uid`` is not a UID (a peer's value never becomes a path outside the folder).
        """
        if not is_uid(sop_uid):
            raise ValueError(f"SOPInstanceUID {sop_uid[:70]!r} is not a UID")
        return self.out_dir / f"{sop_uid}{SUFFIX}"

    def has(self, sop_uid: str) -> bool:
        """Whether image ``sop_uid`` is already whole in the folder.

        In a folder that started empty only this sink's writes can be there: asked of memory
        (a stat per image cost 14 ms per 100 images while the writer threads fsync).
        """
        if self.started_empty:
            return sop_uid in self._mine
        try:
            return self.path_for(sop_uid).stat().st_size > 0
        except (OSError, ValueError):
            return False

    def write(self, sop_uid: str, data: bytes) -> Path:
        """Write one image (DICOM file bytes) under its final name, atomically."""
        path = self.path_for(sop_uid)
        atomic_write_bytes(path, data)
        with self._lock:
            self.written.append(path)
            self._mine.add(sop_uid)
        return path

    def write_soon(self, sop_uid: str, data: bytes, then: Callable[[], None]) -> None:
        """:meth:`write` on a writer thread, then ``then()`` (on that thread).

        An image already handed over is ignored (a server that sends one twice). Blocks while
        :data:`IN_FLIGHT` images wait for the disk. Raises what an earlier write raised, and
        :class:`ValueError` at once for a ``sop_uid`` that is not a UID.
        """
        self.path_for(sop_uid)
        if self._failed is not None:
            raise self._failed
        if sop_uid in self._claimed:
            return
        self._claimed.add(sop_uid)
        self._room.acquire()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="pv-retrieve-write")

        def _job() -> None:
            try:
                self.write(sop_uid, data)
                then()
            except BaseException as exc:
                self._failed = self._failed or exc
                raise
            finally:
                self._room.release()

        self._pending.append(self._pool.submit(_job))

    def wait_written(self) -> None:
        """Wait for every :meth:`write_soon`; raise the first failure (``OSError``)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.exception()
        if self._failed is not None:
            raise self._failed

    def close(self) -> None:
        """Wait for the writes, then end the writer threads (a later write starts new ones)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class RetrieveClient(Protocol):
    """What :func:`retrieve` needs of a protocol client."""

    label: str

    def find(self, query: StudyQuery) -> list[StudyResult]: ...

    def list_instances(self, study_uid: str) -> list[InstanceRef]: ...

    def fetch(
        self,
        instances: list[InstanceRef],
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> None: ...

    def count_instances(self, study_uid: str) -> int: ...

    def fetch_study(
        self,
        study_uid: str,
        sink: FolderSink,
        cancel: threading.Event,
        on_instance: Callable[[InstanceRef], None],
    ) -> bool: ...


@dataclass
class RetrieveReport:
    """What a retrieve did (``missing``: images listed but not received, by UID)."""

    studies: int = 0
    total: int = 0
    skipped: int = 0
    fetched: int = 0
    cancelled: bool = False
    missing: list[str] = field(default_factory=list)


def study_uids_for(client: RetrieveClient, query: StudyQuery) -> list[str]:
    """The studies to retrieve: ``query.study_uids`` as given, else those the query finds."""
    if query.study_uids:
        return list(query.study_uids)
    return [s.study_uid for s in client.find(query)]


class _Run:
    """One retrieve's counts and progress (images arrive on writer threads)."""

    def __init__(
        self,
        client: RetrieveClient,
        sink: FolderSink,
        cancel: threading.Event,
        on_progress: Progress | None,
    ) -> None:
        self.client, self.sink, self.cancel = client, sink, cancel
        self.on_progress = on_progress
        self.report = RetrieveReport()
        self._lock = threading.Lock()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report.skipped + self.report.fetched, self.report.total)

    def arrived(self, ref: InstanceRef) -> None:
        with self._lock:
            self.report.fetched += 1
            self._progress()

    def whole_study(self, study_uid: str) -> tuple[int, int] | None:
        """The study in one request. Returns None when it was complete (or cancelled), else
        (images it wrote, images the server counted) for :meth:`image_by_image`."""
        expected = self.client.count_instances(study_uid)
        with self._lock:
            self.report.total += expected
            self._progress()
        before = self.report.fetched
        complete = self.client.fetch_study(study_uid, self.sink, self.cancel, self.arrived)
        self.sink.wait_written()
        got = self.report.fetched - before
        if self.cancel.is_set() or (complete and got >= expected):
            with self._lock:
                self.report.total += max(0, got - expected)  # a server that counted short
            return None
        # A cut or short answer (a multipart stream can end early without an error), an image
        # class the study C-GET did not offer, or a server that cannot send a study whole.
        logger.debug(
            "%s: the study request brought %d of %d images; listing them",
            self.client.label,
            got,
            expected,
        )
        return got, expected

    def image_by_image(self, study_uid: str, written: int = 0, counted: int = 0) -> None:
        """List the study's images and fetch those not in the folder (``written`` of the ones
        there came from :meth:`whole_study`, which added ``counted`` to the total)."""
        todo: list[InstanceRef] = []
        refused: list[str] = []
        instances = self.client.list_instances(study_uid)
        for ref in instances:
            if not is_uid(ref.sop_uid):
                # A peer's value never becomes a file name unless it is a UID.
                logger.warning(
                    "%s: image UID %r is not a UID; skipped", self.client.label, ref.sop_uid[:70]
                )
                refused.append(ref.sop_uid)
            elif not self.sink.has(ref.sop_uid):
                todo.append(ref)
        with self._lock:
            self.report.total += len(instances) - counted
            self.report.skipped += max(0, len(instances) - len(todo) - len(refused) - written)
            self._progress()
        self.client.fetch(todo, self.sink, self.cancel, self.arrived)
        self.sink.wait_written()
        self.report.missing += refused + [i.sop_uid for i in todo if not self.sink.has(i.sop_uid)]


def retrieve(
    client: RetrieveClient,
    study_uids: Iterable[str],
    sink: FolderSink,
    *,
    cancel: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> RetrieveReport:
    """Retrieve every image of ``study_uids`` not already in ``sink``.

    ``report.missing`` names the listed images that did not arrive; after a cancel during a
    whole-study request nothing was listed, and running again fetches what is missing.

    Raises
    ------
    PacsError
        The server failed; the images that arrived before stay in the folder and the message
        says how many, so that running again fetches the rest.
    OSError
        An image could not be written (the others stay).
    """
    run = _Run(client, sink, cancel or threading.Event(), on_progress)
    report = run.report
    try:
        for study_uid in dict.fromkeys(study_uids):
            if run.cancel.is_set():
                break
            report.studies += 1
            left = run.whole_study(study_uid) if sink.started_empty else (0, 0)
            if left is not None:
                run.image_by_image(study_uid, *left)
    except PacsError as err:
        sink.wait_written()
        kept = report.skipped + report.fetched
        raise PacsError(
            err.path,
            f"{err.reason}; {kept} of {report.total} images are in {sink.out_dir}, "
            "run the same command again to fetch the rest",
        ) from None
    finally:
        sink.close()  # every image handed over is on disk (or failed) before we return
        sink.wait_written()
    report.cancelled = run.cancel.is_set()
    return report
