"""Folder scan: grouping, ordering, problems, DICOMDIR, cancellation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from detector.scan import iter_scan, scan


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
        (folder / "readme.txt").write_text("hello " * 100)
        good = (folder / "good0.dcm").read_bytes()
        (folder / "cut.dcm").write_bytes(good[:100])
        result = scan([folder])
        reasons = {Path(p.path).name: p.reason for p in result.problems}
        assert set(reasons) == {"empty.dcm", "readme.txt", "cut.dcm"}
        assert "empty" in reasons["empty.dcm"]
        assert "not a DICOM file" in reasons["readme.txt"]
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

        from detector.dicom_write import new_image_dataset

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
