"""``pneumoview info FILE [--json]``: key attributes and the full tag dump."""

from __future__ import annotations

import argparse
import json
import sys

from detector.imaging.dicom_info import KEY_ATTRIBUTES, key_attributes
from detector.imaging.read import DicomReadError, header_cut_reason, read_header

NAME = "info"
HELP = "show a DICOM file's key attributes and full tag dump"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="DICOM file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        ds = read_header(args.file)
    except DicomReadError as err:
        sys.stderr.write(f"pneumoview info: {args.file}: {err.reason}\n")
        return 1
    keys = key_attributes(ds)
    cut = header_cut_reason(ds)
    if cut is not None:
        # The dump below is partial: say so (on stderr, so --json stays one JSON object).
        sys.stderr.write(f"pneumoview info: {args.file}: dump cut short: {cut}\n")
    if args.json:
        try:
            tags = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda e: "")
        except Exception as exc:  # noqa: BLE001 - fall back to a text dump of damaged headers
            tags = {"error": f"JSON dump failed: {exc}", "text": str(ds)}
        meta = getattr(ds, "file_meta", None)
        out = {
            "file": args.file,
            "attributes": keys,
            "file_meta": meta.to_json_dict() if meta is not None else {},
            "tags": tags,
        }
        if cut is not None:
            out["cut_short"] = cut
        json.dump(out, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return 0
    labels = dict((kw, label) for label, kw in KEY_ATTRIBUTES)
    labels["TransferSyntaxUID"] = "Transfer syntax"
    sys.stdout.write(f"{args.file}\n")
    width = max(len(v) for v in labels.values())
    for keyword, value in keys.items():
        sys.stdout.write(f"  {labels[keyword]:<{width}}  {value}\n")
    sys.stdout.write("\nFile meta:\n")
    if getattr(ds, "file_meta", None) is not None:
        sys.stdout.write(str(ds.file_meta) + "\n")
    sys.stdout.write("\nDataset:\n")
    sys.stdout.write(str(ds) + "\n")
    if cut is not None:
        sys.stdout.write(f"\n(dump cut short: {cut})\n")
    return 0
