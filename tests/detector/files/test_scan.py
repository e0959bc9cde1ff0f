"""Folder scan: grouping, ordering, problems, DICOMDIR, cancellation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from detector.files.scan import iter_scan, scan


def _write_study(make_dicom, folder: Path) -> None:
    common = {"PatientID": "P1", "PatientName": "Doe^Jane", "StudyInstanceUID": "1.2.3"}
    make_dicom(
        "b.dcm",
        folder=folder,
        SeriesInstanceUID="1.2.3.2",
        SeriesNumber=2,
        InstanceNumber=1,
        **common,
    )
    make_dicom(
        "z.dcm",
        folder=folder,
        SeriesInstanceUID="1.2.3.1",
        SeriesNumber=1,
        InstanceNumber=2,
        **common,
    )
    make_dicom(
        "y",
        folder=folder / "sub",
        SeriesInstanceUID="1.2.3.1",
        SeriesNumber=1,
        InstanceNumber=1,
        **common,
    )


class TestScan:
    def test_groups_patient_study_series_and_orders_by_number(self, make_dicom, tmp_path):
        """Instances group by UID and sort by Series/Instance Number, not by file name."""
        _write_study(make_dicom, tmp_path / "study")
        result = scan([tmp_path / "study"])
        assert list(result.patients) == ["P1"]
        study = result.patients["P1"].studies["1.2.3"]
        series = study.sorted_series()
        assert [s.number for s in series] == [1, 2]
        names = [i.name for i in result.instances()]
        assert names == ["y", "z.dcm", "b.dcm"]
        assert result.problems == []

    def test_bad_files_are_listed_with_reasons_and_the_rest_open(self, make_dicom, tmp_path):
        """Zero-byte, text and truncated files become problems; good files still open."""
        folder = tmp_path / "mixed"
        for k in range(5):
            make_dicom(f"good{k}.dcm", folder=folder, PatientID="P", InstanceNumber=k)
        (folder / "empty.dcm").write_bytes(b"")
        (folder / "readme").write_text("hello " * 100)  # no extension: tried by content
        good = (folder / "good0.dcm").read_bytes()
        (folder / "cut.dcm").write_bytes(good[:100])
        result = scan([folder])
        reasons = {Path(p.path).name: p.reason for p in result.problems}
        assert set(reasons) == {"empty.dcm", "readme", "cut.dcm"}
        assert "empty" in reasons["empty.dcm"]
        assert "not a DICOM file" in reasons["readme"]
        assert len(result.instances()) == 5

    def test_non_image_objects_are_listed_not_drawn(self, tmp_path):
        """An SR document is an instance with is_image False."""
        result = scan([get_testdata_file("test-SR.dcm")])
        (inst,) = result.instances(images_only=False)
        assert not inst.is_image and inst.kind == "structured report"
        assert result.instances() == []

    def test_dicomdir_is_used_not_shown(self, tmp_path):
        """A DICOMDIR adds its referenced files and is not an image or a problem."""
        from pydicom.fileset import FileSet

        from detector.imaging.dicom_write import new_image_dataset

        fs = FileSet()
        for k in range(2):
            ds = new_image_dataset(np.zeros((4, 4), np.uint8), PatientID="DD", InstanceNumber=k)
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
            fs.add(ds)
        out = tmp_path / "media"
        fs.write(out)
        result = scan([out / "DICOMDIR"])
        assert result.dicomdirs and result.problems == []
        assert len(result.instances()) == 2

    def test_cancel_stops_early(self, make_dicom, tmp_path):
        """iter_scan stops when cancelled() turns true."""
        for k in range(6):
            make_dicom(f"i{k}.dcm")
        seen = []
        for item in iter_scan([tmp_path], cancelled=lambda: len(seen) >= 2):
            seen.append(item)
        assert len(seen) == 2

    def test_empty_folder(self, tmp_path):
        """An empty folder scans to nothing, without problems."""
        result = scan([tmp_path])
        assert result.patients == {} and result.problems == []


class TestSideFilesAndSpecialFiles:
    def test_side_files_are_skipped_not_failed(self, make_dicom, tmp_path):
        """labels.csv, synth.json, README.md... are skipped by extension and counted; a file
        without an extension is still recognised by content."""
        from detector.files.scan import skipped_lines

        folder = tmp_path / "data"
        make_dicom("a.dcm", folder=folder)
        make_dicom("noext", folder=folder)
        for name in ("labels.csv", "class_info.csv", "synth.json", "README.md", "index.csv"):
            (folder / name).write_text("patientId,x,y,width,height,Target\n")
        result = scan([folder])
        assert result.problems == []
        assert len(result.instances()) == 2
        assert sorted(Path(s.path).name for s in result.skipped) == [
            "README.md",
            "class_info.csv",
            "index.csv",
            "labels.csv",
            "synth.json",
        ]
        assert skipped_lines(result.skipped) == [
            "skipped 5 file(s) that are not images (3 .csv, 1 .json, 1 .md)"
        ]

    def test_fifo_in_a_folder_is_skipped_unopened(self, make_dicom, tmp_path):
        """A FIFO met in a folder walk is skipped with its reason; the scan does not block."""
        import os

        from detector.files.scan import iter_files, skipped_lines

        make_dicom("a.dcm", folder=tmp_path)
        os.mkfifo(tmp_path / "pipe")
        skipped: list = []
        assert [Path(p).name for p in iter_files([tmp_path], skipped)] == ["a.dcm"]
        assert skipped_lines(skipped) == [
            f"{tmp_path / 'pipe'}: a FIFO (named pipe), not a file (skipped)"
        ]


class TestLinksToFolders:
    def test_links_to_folders_are_counted_in_the_summary(self, make_dicom, tmp_path):
        """A symbolic link to a folder is not followed, but counted in the summary line."""
        import os

        from detector.files.scan import iter_files, skipped_lines

        study = tmp_path / "study"
        make_dicom("a.dcm", folder=study)
        make_dicom("b.dcm", folder=tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", study / "linked")
        os.symlink(study, study / "loop")
        skipped: list = []
        assert [Path(p).name for p in iter_files([study], skipped)] == ["a.dcm"]
        assert skipped_lines(skipped) == [
            f"skipped 2 symbolic link(s) to folders, not followed (first: {study / 'linked'}); "
            "give the folder itself to include it"
        ]

    def test_scan_lists_links_as_skipped_not_as_problems(self, make_dicom, tmp_path):
        """The viewer's scan gets the link as a skipped item, never as a problem."""
        import os

        make_dicom("a.dcm", folder=tmp_path / "study")
        os.symlink(tmp_path / "study", tmp_path / "study" / "again")
        result = scan([tmp_path / "study"])
        assert result.problems == []
        assert [Path(s.path).name for s in result.skipped] == ["again"]
        assert len(result.instances()) == 1
