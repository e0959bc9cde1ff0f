"""``pneumoview info``: a header cut short says so; a bomb's header is read without its pixels."""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from detector import cli
from tests.detector.imaging.bombs import run_probe, write_deflated


def _deeply_nested(path: Path, depth: int) -> Path:
    """A CR header followed by ``depth`` nested sequences (Content Sequence in its own item)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "DEEP"
    ds.Modality = "CR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    open_sequence = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    open_item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    with open(path, "ab") as out:
        out.write((open_sequence + open_item) * depth + close * depth)
    return path


class TestCutShort:
    def test_deeply_nested_sequences_say_the_dump_was_cut(self, tmp_path, capsys):
        """20,000 nested sequences: the readable part is shown and both outputs say it was cut."""
        path = _deeply_nested(tmp_path / "deep.dcm", 20_000)
        assert cli.main(["info", str(path)]) == 0
        out, err = capsys.readouterr()
        assert "DEEP" in out
        reason = "sequences nested too deeply to read; only the 4 elements before it were read"
        assert out.rstrip().endswith(f"(dump cut short: {reason})")
        assert err == f"pneumoview info: {path}: dump cut short: {reason}\n"

    def test_json_carries_the_cut(self, tmp_path, capsys):
        """--json stays one JSON object, with a ``cut_short`` field."""
        import json

        path = _deeply_nested(tmp_path / "deep.dcm", 20_000)
        assert cli.main(["info", str(path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["cut_short"].startswith("sequences nested too deeply to read")

    def test_whole_header_has_no_note(self, make_dicom, capsys):
        """An intact file: no note on either output."""
        assert cli.main(["info", str(make_dicom("ok.dcm"))]) == 0
        out, err = capsys.readouterr()
        assert "cut short" not in out and err == ""


_INFO_RSS = textwrap.dedent(
    """
    import sys
    from detector import cli
    code = cli.main(["info", sys.argv[1]])
    peak = peak_mib()
    print(f"exit={code} peak={peak}", file=sys.stderr)
    """
)


def test_info_on_a_bomb_never_inflates_its_pixels(tmp_path):
    """``info`` on a 1 MB file declaring 32768 x 32768 pixels: the header, under 500 MB peak."""
    bomb = write_deflated(tmp_path / "bomb.dcm", rows=32768, cols=32768, zeros=1 << 30)
    done = run_probe(_INFO_RSS, str(bomb))
    assert "Rows                       32768" in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("exit=0 peak=")
    assert int(last.split("peak=")[1]) < 500
