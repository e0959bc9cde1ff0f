"""`pneumoview convert`: every good file converted, every bad one listed with its reason."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from PIL import Image

from detector import cli
from detector.commands.convert import unique_names
from detector.imaging.render import display_pixels


def _read_index(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as fh:
        return list(csv.DictReader(fh))


class TestConvert:
    def test_mixed_folder(self, make_dicom, tmp_path, capsys):
        """Good files become PNGs equal to the display pipeline; bad ones are listed; exit 1."""
        src = tmp_path / "in"
        good = make_dicom("a.dcm", folder=src, jpeg=True)
        make_dicom("noext", folder=src / "deeper")  # recognised by content, not extension
        (src / "zero.dcm").write_bytes(b"")
        (src / "notes.dat").write_text("not dicom")
        out = tmp_path / "out"
        code = cli.main(["convert", str(src), "--out", str(out), "--workers", "1"])
        assert code == 1
        rows = {r["name"]: r for r in _read_index(out)}
        assert set(rows) == {"a", "noext", "zero", "notes.dat"}
        assert rows["a"]["status"] == "ok" and rows["noext"]["status"] == "ok"
        assert rows["zero"]["status"] == "error" and "empty" in rows["zero"]["reason"]
        assert "not a DICOM file" in rows["notes.dat"]["reason"]
        png = np.asarray(Image.open(rows["a"]["output"]))
        np.testing.assert_array_equal(png, display_pixels(good))
        err = capsys.readouterr().err
        assert "zero.dcm: empty file" in err and "Traceback" not in err

    def test_all_good_exits_zero_and_resizes(self, make_dicom, tmp_path):
        """--size sets the longer side; exit 0 when everything converted."""
        make_dicom("x.dcm", pixels=np.zeros((40, 20), np.uint8))
        out = tmp_path / "out"
        assert (
            cli.main(["convert", str(tmp_path / "x.dcm"), "--out", str(out), "--size", "16"]) == 0
        )
        assert Image.open(out / "x.png").size == (8, 16)

    def test_duplicate_names_stay_unique(self, make_dicom, tmp_path):
        """Two inputs named alike get distinct outputs."""
        make_dicom("same.dcm", folder=tmp_path / "a")
        make_dicom("same.dcm", folder=tmp_path / "b")
        out = tmp_path / "out"
        assert (
            cli.main(["convert", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
        )
        assert sorted(p.name for p in out.glob("*.png")) == ["same-2.png", "same.png"]

    def test_window_and_equalize_options(self, make_dicom, tmp_path):
        """--window and --equalize go through the same pipeline."""
        path = make_dicom()
        out = tmp_path / "out"
        args = ["convert", str(path), "--out", str(out), "--window", "100", "50"]
        assert cli.main([*args, "--equalize", "clahe"]) == 0
        png = np.asarray(Image.open(out / "image.png"))
        np.testing.assert_array_equal(png, display_pixels(path, window=(100, 50), equalize="clahe"))

    def test_usage_errors_exit_2(self, tmp_path):
        """A non-positive window width is a usage error."""
        assert (
            cli.main(["convert", str(tmp_path), "--out", str(tmp_path), "--window", "1", "0"]) == 2
        )

    def test_parallel_workers_match_serial(self, make_dicom, tmp_path):
        """The process pool gives the same outputs as one process."""
        for k in range(10):
            make_dicom(f"i{k}.dcm", folder=tmp_path / "in")
        assert (
            cli.main(
                ["convert", str(tmp_path / "in"), "--out", str(tmp_path / "o1"), "--workers", "1"]
            )
            == 0
        )
        assert (
            cli.main(
                ["convert", str(tmp_path / "in"), "--out", str(tmp_path / "o2"), "--workers", "2"]
            )
            == 0
        )
        for k in range(10):
            a = np.asarray(Image.open(tmp_path / "o1" / f"i{k}.png"))
            b = np.asarray(Image.open(tmp_path / "o2" / f"i{k}.png"))
            np.testing.assert_array_equal(a, b)


def test_unique_names_case_insensitive():
    """Names differing only by case are made unique (case-insensitive file systems)."""
    assert unique_names(["a/X.dcm", "b/x.dcm", "c/x"]) == ["X", "x-2", "x-3"]


def test_info_command(make_dicom, capsys):
    """`info --json` prints key attributes; a bad file exits 1 with one line."""
    import json

    path = make_dicom(PatientID="ABC")
    assert cli.main(["info", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attributes"]["PatientID"] == "ABC"
    assert "00100020" in data["tags"]
    bad = Path(path).with_name("bad.dcm")
    bad.write_bytes(b"junk" * 10)
    assert cli.main(["info", str(bad)]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("not a DICOM file (no DICM preamble and no parseable header)")
    )


class TestConvertOutput:
    def test_index_records_png_and_source_sizes(self, make_dicom, tmp_path):
        """index.csv gives each PNG's size and its source's, so boxes can be scaled."""
        make_dicom("x.dcm", pixels=np.zeros((40, 20), np.uint8))
        out = tmp_path / "out"
        cli.main(["convert", str(tmp_path / "x.dcm"), "--out", str(out), "--size", "16"])
        [row] = _read_index(out)
        assert (row["height"], row["width"]) == ("16", "8")
        assert (row["source_height"], row["source_width"]) == ("40", "20")

    def test_out_is_a_file_or_has_no_parent(self, make_dicom, tmp_path, capsys):
        """--out onto a file, or under a missing folder: one line, exit 2, nothing written."""
        src = make_dicom("x.dcm")
        (tmp_path / "file").write_text("x")
        for out, message in (
            (tmp_path / "file", "not a folder"),
            (tmp_path / "nope" / "out", "does not exist"),
        ):
            assert cli.main(["convert", str(src), "--out", str(out)]) == 2
            err = capsys.readouterr().err
            assert message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "nope").exists()

    def test_long_names_and_leftover_temp_files(self, make_dicom, tmp_path):
        """A 250-character PNG name works; temp files of a killed run are cleaned."""
        src = make_dicom("n" * 246 + ".dcm")
        out = tmp_path / "out"
        out.mkdir()
        stale = out / f".{'n' * 100}.png.a1b2c3d4.tmp"
        stale.write_bytes(b"half a png")
        assert cli.main(["convert", str(src), "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["index.csv", "n" * 246 + ".png"]

    def test_progress_summary_gives_files_per_second(self, make_dicom, tmp_path, capsys):
        """The closing line reports the rate, like detect's."""
        src = make_dicom("x.dcm")
        cli.main(["convert", str(src), "--out", str(tmp_path / "out")])
        assert "files/s)" in capsys.readouterr().err


class TestHostileNames:
    def test_formula_file_name_is_neutralised_in_index(self, make_dicom, tmp_path):
        """A file named ``=HYPERLINK(...).dcm`` is one quoted text cell in index.csv (issue 21.4)."""
        make_dicom('=HYPERLINK("http-x","y").dcm', folder=tmp_path / "in")
        out = tmp_path / "out"
        assert cli.main(["convert", str(tmp_path / "in"), "--out", str(out)]) == 0
        (row,) = _read_index(out)
        assert row["name"] == '\'=HYPERLINK("http-x","y")'
        assert row["source"] == str(tmp_path / "in" / '=HYPERLINK("http-x","y").dcm')
        assert (out / '=HYPERLINK("http-x","y").png').is_file()

    def test_non_utf8_file_name_beside_good_ones(self, make_dicom, tmp_path, capsys):
        """``caf\\xe9-latin1.dcm`` is converted and listed by its bytes; the run completes
        (issue 21.5)."""
        latin1 = os.fsdecode(b"caf\xe9-latin1.dcm")
        make_dicom("good.dcm", folder=tmp_path / "in")
        make_dicom(latin1, folder=tmp_path / "in")
        out = tmp_path / "out"
        assert cli.main(["convert", str(tmp_path / "in"), "--out", str(out)]) == 0
        raw = (out / "index.csv").read_bytes()
        assert b"\ncaf\xe9-latin1," in raw and b"\ngood," in raw
        assert sorted(os.listdir(os.fsencode(out))) == [
            b"caf\xe9-latin1.png",
            b"good.png",
            b"index.csv",
        ]
        assert "Traceback" not in capsys.readouterr().err
