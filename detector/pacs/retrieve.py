"""Retrieve studies into a folder: one file per image named by SOPInstanceUID, resumable, atomic.

Each image is written to a temp name beside its final one (``.pv-<pid>-<random>.tmp``) and
renamed only when whole, so a killed run or a server that dies mid-transfer never leaves a
partial file under a final name. Images already in the folder are skipped: running the same
``get`` again fetches only what is missing. The cancel event is checked between images.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from detector.files.output import atomic_write_bytes, check_output_dir, remove_stale_temp_files
from detector.pacs.errors import PacsError
from detector.pacs.query import InstanceRef, StudyQuery, StudyResult, is_uid

logger = logging.getLogger(__name__)

SUFFIX = ".dcm"
#: ``on_progress(done, total)`` after each image (done counts skipped ones too).
Progress = Callable[[int, int], None]


class FolderSink:
    """The folder images are retrieved into.

    Parameters
    ----------
    out_dir : Path
        Created when missing; checked writable before any transfer.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = check_output_dir(out_dir)
        remove_stale_temp_files(self.out_dir)
        self.written: list[Path] = []
        self._lock = threading.Lock()

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
        """Whether image ``sop_uid`` is already whole in the folder."""
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
        return path


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


@dataclass
class RetrieveReport:
    """What a retrieve did."""

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


def retrieve(
    client: RetrieveClient,
    study_uids: Iterable[str],
    sink: FolderSink,
    *,
    cancel: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> RetrieveReport:
    """Retrieve every image of ``study_uids`` not already in ``sink``.

    Raises
    ------
    PacsError
        The server failed; the images that arrived before stay in the folder and the message
        says how many, so that running again fetches the rest.
    """
    cancel = cancel or threading.Event()
    report = RetrieveReport()
    todo: list[InstanceRef] = []
    refused: list[str] = []
    for study_uid in study_uids:
        instances = client.list_instances(study_uid)
        report.studies += 1
        report.total += len(instances)
        for ref in instances:
            if not is_uid(ref.sop_uid):
                # A peer's value never becomes a file name unless it is a UID.
                logger.warning(
                    "%s: image UID %r is not a UID; skipped", client.label, ref.sop_uid[:70]
                )
                refused.append(ref.sop_uid)
            elif not sink.has(ref.sop_uid):
                todo.append(ref)
    report.skipped = report.total - len(todo) - len(refused)
    done = report.skipped
    if on_progress is not None:
        on_progress(done, report.total)

    def _arrived(ref: InstanceRef) -> None:
        nonlocal done
        report.fetched += 1
        done += 1
        if on_progress is not None:
            on_progress(done, report.total)

    try:
        client.fetch(todo, sink, cancel, _arrived)
    except PacsError as err:
        kept = report.skipped + report.fetched
        raise PacsError(
            err.path,
            f"{err.reason}; {kept} of {report.total} images are in {sink.out_dir}, "
            "run the same command again to fetch the rest",
        ) from None
    report.cancelled = cancel.is_set()
    report.missing = refused + [i.sop_uid for i in todo if not sink.has(i.sop_uid)]
    return report
