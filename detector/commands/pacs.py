"""``pneumoview pacs echo|find|get|send``: query, retrieve and send over DICOMweb or DIMSE.

``--server`` is a name from the servers file (:mod:`detector.pacs.servers`) or a URL
(``http(s)://host:port/dicom-web``, ``dimse://AET@host:port``). A server that cannot be used
is one line naming it (without credentials), exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from dataclasses import replace
from typing import Any

from detector.cli import UsageError
from detector.pacs.errors import PacsError
from detector.pacs.query import MODALITIES, StudyQuery, StudyResult, is_uid, parse_date_range
from detector.pacs.servers import Server, resolve_server

NAME = "pacs"
HELP = "query, retrieve and send studies (PACS over DICOMweb or DIMSE)"
DEFAULT_STORE_PORT = 11113

logger = logging.getLogger(__name__)


def _add_server(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        required=True,
        metavar="NAME|URL",
        help="a name from the servers file, or http(s)://host:port/dicom-web or dimse://AET@host:port",
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="connect timeout in seconds (default 10)"
    )
    p.add_argument(
        "--calling-aet", metavar="AET", help="our AE title for DIMSE (default PNEUMOVIEW)"
    )


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patient", metavar="ID", default="", help="patient ID (* and ? match)")
    p.add_argument(
        "--patient-name", metavar="NAME", default="", help="patient name (* and ? match)"
    )
    p.add_argument(
        "--study-date",
        metavar="RANGE",
        help="a date or range: 20240131, 20240101-20240131, 2024-01-01..2024-01-31, 20240101-",
    )
    p.add_argument("--modality", choices=MODALITIES, default="", help="modality in the study")
    p.add_argument("--accession", metavar="A", default="", help="accession number")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    echo = sub.add_parser("echo", help="check that the server answers (C-ECHO or QIDO-RS)")
    _add_server(echo)
    find = sub.add_parser("find", help="list studies")
    _add_server(find)
    _add_filters(find)
    find.add_argument("--json", action="store_true", help="one JSON list on stdout")
    get = sub.add_parser("get", help="retrieve studies into a folder (resumable)")
    _add_server(get)
    get.add_argument("--study", nargs="+", metavar="UID", default=[], help="study instance UIDs")
    _add_filters(get)
    get.add_argument("--out", required=True, metavar="DIR", help="folder for the images")
    get.add_argument(
        "--move-dest",
        metavar="AET",
        help="DIMSE: C-MOVE to this AE title (the PACS must know it at this host and --store-port)"
        " instead of C-GET",
    )
    get.add_argument(
        "--store-port",
        type=int,
        metavar="PORT",
        help=f"port of the storage SCP started for C-MOVE (default the server's, else {DEFAULT_STORE_PORT})",
    )
    get.add_argument("--quiet", action="store_true", help="no progress bar")
    send = sub.add_parser("send", help="send DICOM files (STOW-RS or C-STORE)")
    _add_server(send)
    send.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS")
    send.add_argument("--quiet", action="store_true", help="no progress bar")


def _server(args: argparse.Namespace) -> Server:
    server = resolve_server(args.server).with_timeout(args.timeout)
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be more than 0")
    if args.calling_aet:
        server = replace(server, calling_aet=args.calling_aet)
    return server


def _query(args: argparse.Namespace, study_uids: tuple[str, ...] = ()) -> StudyQuery:
    first = last = None
    if args.study_date:
        try:
            first, last = parse_date_range(args.study_date)
        except ValueError as exc:
            raise UsageError(f"--study-date: {exc}") from None
    for uid in study_uids:
        if not is_uid(uid):
            raise UsageError(f"--study: {uid[:70]!r} is not a UID")
    return StudyQuery(
        patient_id=args.patient,
        patient_name=args.patient_name,
        date_from=first,
        date_to=last,
        modality=args.modality,
        accession=args.accession,
        study_uids=study_uids,
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _print_table(results: list[StudyResult]) -> None:
    rows = [("PATIENT ID", "NAME", "DATE", "MOD", "ACCESSION", "IMAGES", "STUDY UID")]
    for r in results:
        rows.append(
            (
                r.patient_id,
                r.patient_name,
                r.study_date,
                "/".join(r.modalities),
                r.accession,
                "" if r.images is None else str(r.images),
                r.study_uid,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[-1]]) + "\n")


def _progress_bar(total_hint: int, quiet: bool, unit: str) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total_hint, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def _run_get(args: argparse.Namespace, server: Server, client: Any) -> int:
    from detector.pacs.retrieve import FolderSink, retrieve, study_uids_for

    query = _query(args, tuple(args.study))
    if not query.study_uids and not query.filters():
        raise UsageError(
            "give --study UID... or at least one filter (retrieving everything is refused)"
        )
    if args.move_dest and server.protocol != "dimse":
        raise UsageError("--move-dest is for DIMSE servers (dimse://AET@host:port)")
    sink = FolderSink(args.out)
    studies = study_uids_for(client, query)
    if not studies:
        sys.stderr.write(f"pneumoview pacs: {server.label}: no study matches\n")
        return 1
    bar = _progress_bar(0, args.quiet, "image")

    def _progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    cancel = threading.Event()
    try:
        report = retrieve(client, studies, sink, cancel=cancel, on_progress=_progress)
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if bar is not None:
            bar.close()
    sys.stdout.write(
        f"{report.fetched} images retrieved, {report.skipped} already in {sink.out_dir} "
        f"({_count(report.studies, 'study', 'studies')}, {_count(report.total, 'image', 'images')})\n"
    )
    if report.missing:
        sys.stderr.write(
            f"pneumoview pacs: {server.label}: {len(report.missing)} images did not arrive; "
            "run the same command again to fetch them\n"
        )
        return 1
    return 0


def _run_send(args: argparse.Namespace, server: Server, client: Any) -> int:
    from detector.errors import display_name
    from detector.pacs.send import collect_files, send_files

    bar = _progress_bar(len(collect_files(args.paths)), args.quiet, "file")

    def _on_file(path: Any, reason: str | None) -> None:
        if reason is not None:
            line = f"pneumoview pacs: {display_name(path)}: {reason}\n"
            (
                bar.write(line.rstrip("\n"), file=sys.stderr)
                if bar is not None
                else sys.stderr.write(line)
            )
        if bar is not None:
            bar.update(1)

    try:
        report = send_files(client, args.paths, on_file=_on_file)
    finally:
        if bar is not None:
            bar.close()
    sys.stdout.write(f"{len(report.sent)} sent, {len(report.failed)} failed to {server.label}\n")
    return 1 if report.failed else 0


def run(args: argparse.Namespace) -> int:
    from detector.pacs.client import open_client
    from detector.pacs.dicomweb import quiet_dicomweb
    from detector.pacs.dimse import quiet_pynetdicom

    verbose = bool(getattr(args, "verbose", False))
    quiet_pynetdicom(verbose)
    quiet_dicomweb(verbose)
    server = _server(args)
    action = args.pacs_command
    move_dest = getattr(args, "move_dest", None) or ""
    store_port = getattr(args, "store_port", None) or server.store_port or DEFAULT_STORE_PORT
    client = open_client(server, move_dest=move_dest, store_port=store_port)
    if action == "echo":
        client.echo()
        sys.stdout.write(f"{server.label}: answers\n")
        return 0
    if action == "find":
        results = client.find(_query(args))
        if args.json:
            json.dump([r.to_json() for r in results], sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            _print_table(results)
            sys.stderr.write(_count(len(results), "study", "studies") + "\n")
        return 0
    if action == "get":
        return _run_get(args, server, client)
    if action == "send":
        return _run_send(args, server, client)
    raise PacsError(server.label, f"unknown action {action!r}")
