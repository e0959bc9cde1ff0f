"""SR write -> read: boxes, scores, sources, references; malformed SRs give one line."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from detector.sr.read import SrReadError, is_sr_file, read_sr
from detector.sr.write import SrAuthor, SrBox, SrWriteError, write_sr
from tests.conftest import chest_like

BOXES = [
    SrBox((10.25, 20.5, 30.0, 40.75), 0.83, "model"),
    SrBox((50.0, 5.0, 12.5, 8.0), None, "ground_truth"),
    SrBox((1.0, 60.0, 20.0, 25.0), None, "reviewer"),
]


@pytest.fixture
def image(make_dicom) -> Path:
    return make_dicom("img.dcm", chest_like(96), PatientID="P1", AccessionNumber="A7")


@pytest.fixture
def written(image: Path, tmp_path: Path) -> Path:
    header = pydicom.dcmread(image, stop_before_pixels=True)
    out = tmp_path / "sr"
    out.mkdir()
    return write_sr(header, BOXES, SrAuthor("tiny.pt", "0123abcd", "Doe^Jane"), out)


class TestWriteSr:
    def test_round_trip_boxes_scores_sources(self, image: Path, written: Path) -> None:
        """Every box comes back within 0.5 px, with its score, source and the image's UID."""
        uid = pydicom.dcmread(image, stop_before_pixels=True).SOPInstanceUID
        report = read_sr(written)
        assert len(report.findings) == 3
        for box, finding in zip(BOXES, report.findings, strict=True):
            assert finding.xywh == pytest.approx(box.xywh, abs=0.5)
            assert finding.source == box.source
            assert finding.sop_instance_uid == uid
        assert report.findings[0].score == pytest.approx(0.83)
        assert report.findings[1].score is None
        assert report.reader == "Doe^Jane"
        assert report.referenced == {uid}
        assert len({f.tracking_uid for f in report.findings}) == 3

    def test_joins_the_image_study(self, image: Path, written: Path) -> None:
        """Study UID, patient and accession are the image's; the SR has a series of its own."""
        src = pydicom.dcmread(image, stop_before_pixels=True)
        sr = pydicom.dcmread(written)
        assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
        assert sr.StudyInstanceUID == src.StudyInstanceUID
        assert sr.PatientID == "P1" and sr.AccessionNumber == "A7"
        assert sr.SeriesInstanceUID != src.SeriesInstanceUID
        assert sr.Modality == "SR"
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
        ref = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID

    def test_highdicom_reads_it_as_tid1500(self, written: Path) -> None:
        """highdicom's own reader (no dciodvfy here) parses the groups: 5-point closed polylines."""
        sr = hd.sr.srread(written)
        groups = sr.content.get_planar_roi_measurement_groups()
        assert len(groups) == 3
        first = groups[0]
        assert first.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        points = first.roi.value
        assert points.shape == (5, 2)
        assert list(points[0]) == list(points[-1])
        assert first.finding_type.value == "112033"
        assert first.tracking_identifier == "box 1"
        texts = {
            item.ConceptNameCodeSequence[0].CodeMeaning: item.TextValue
            for item in first[0].ContentSequence
            if item.ValueType == "TEXT"
        }
        assert texts["Algorithm Name"] == "tiny.pt"
        assert texts["Algorithm Version"] == "0123abcd"

    def test_no_findings_sr(self, image: Path, tmp_path: Path) -> None:
        """An image without boxes gets an SR with no box that still references the image."""
        header = pydicom.dcmread(image, stop_before_pixels=True)
        path = write_sr(header, [], SrAuthor("tiny.pt", "1"), tmp_path)
        report = read_sr(path)
        assert report.findings == []
        assert report.referenced == {header.SOPInstanceUID}
        groups = hd.sr.srread(path).content.get_image_measurement_groups()
        assert groups[0].finding_type.meaning == "No abnormality"

    def test_reader_names_in_any_script(self, image: Path, tmp_path: Path) -> None:
        """A CJK name survives (UTF-8); PN delimiters in a login name do not break the value."""
        header = pydicom.dcmread(image, stop_before_pixels=True)
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = write_sr(header, BOXES, SrAuthor("m", "1", "山田^太郎"), tmp_path / "a")
        assert read_sr(first).reader == "山田^太郎"
        assert pydicom.dcmread(first).SpecificCharacterSet == "ISO_IR 192"
        second = write_sr(header, BOXES, SrAuthor("m", "1", "dom\\user=x"), tmp_path / "b")
        assert read_sr(second).reader == "dom user x"

    def test_header_without_study_uid_is_refused(self, image: Path, tmp_path: Path) -> None:
        header = pydicom.dcmread(image, stop_before_pixels=True)
        del header.StudyInstanceUID
        with pytest.raises(SrWriteError, match=r"^x\.dcm: no StudyInstanceUID in the DICOM"):
            write_sr(header, BOXES, SrAuthor(), tmp_path, path="/a/x.dcm")


def _graphic_items(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    found = []
    for item in ds.get("ContentSequence", []):
        if "GraphicData" in item:
            found.append(item)
        found.extend(_graphic_items(item))
    return found


class TestReadSrUntrusted:
    def test_truncated(self, written: Path) -> None:
        data = written.read_bytes()
        written.write_bytes(data[: len(data) // 2])
        with pytest.raises(SrReadError) as err:
            read_sr(written)
        assert str(err.value).startswith(f"{written.name}: ")
        assert "\n" not in str(err.value)

    def test_wrong_iod(self, image: Path) -> None:
        """An image is not an SR: one line naming its SOP class."""
        with pytest.raises(SrReadError, match=r"img\.dcm: not a Structured Report \(SOP class"):
            read_sr(image)

    def test_not_dicom(self, tmp_path: Path) -> None:
        path = tmp_path / "junk.dcm"
        path.write_bytes(b"hello" * 40)
        with pytest.raises(SrReadError, match=r"^junk\.dcm: not a DICOM file$"):
            read_sr(path)

    def test_polyline_of_three_points(self, written: Path) -> None:
        ds = pydicom.dcmread(written)
        _graphic_items(ds)[1].GraphicData = [1.0, 1.0, 5.0, 1.0, 1.0, 1.0]
        ds.save_as(written)
        with pytest.raises(SrReadError, match=r"box 2: a region of 3 point\(s\) is not a box"):
            read_sr(written)

    def test_nan_coordinate(self, written: Path) -> None:
        ds = pydicom.dcmread(written)
        item = _graphic_items(ds)[0]
        values = list(item.GraphicData)
        values[3] = float("nan")
        item.GraphicData = values
        ds.save_as(written)
        with pytest.raises(SrReadError, match=r"box 1: a coordinate is not finite"):
            read_sr(written)

    def test_sniff(self, written: Path, image: Path, tmp_path: Path) -> None:
        """is_sr_file tells SRs from images and junk without raising."""
        junk = tmp_path / "junk"
        junk.write_bytes(b"\x00" * 10)
        assert is_sr_file(written)
        assert not is_sr_file(image)
        assert not is_sr_file(junk)
        assert not is_sr_file(tmp_path / "missing.dcm")
