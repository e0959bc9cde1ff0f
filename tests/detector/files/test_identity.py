"""detector.files.identity: the one patientId / session key of an image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from detector.files.identity import identify, image_key, patient_id_for


class TestPatientIdFor:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("0004cfab-14fd-4e49.dcm", "0004cfab-14fd-4e49"),
            ("UPPER.DCM", "UPPER"),
            ("a.dicom", "a"),
            ("scan.ima", "scan"),
            ("converted.png", "converted"),
            ("photo.JPeG", "photo"),
            ("1.2.840.113619.2.5", "1.2.840.113619.2.5"),
            ("noext", "noext"),
            ("notes.txt", "notes.txt"),
        ],
    )
    def test_strips_only_image_suffixes(self, name: str, expected: str) -> None:
        assert patient_id_for(Path("/some/folder") / name) == expected

    def test_later_frames_get_their_own_id(self) -> None:
        assert patient_id_for("cine.dcm", 0) == "cine"
        assert patient_id_for("cine.dcm", 3) == "cine_f3"
        with pytest.raises(ValueError, match="frame"):
            patient_id_for("cine.dcm", -1)


class TestImageKey:
    def test_uid_and_frame(self) -> None:
        assert image_key("1.2.3", 0, "/x/a.dcm") == "1.2.3/0"
        assert image_key("1.2.3", 2) == "1.2.3/2"

    def test_without_uid_the_path_keys_it(self, tmp_path: Path) -> None:
        p = str(tmp_path / "a.png")
        assert image_key("", 0, p) == f"path:{p}/0"
        # scan.Instance falls back to the path as its SOPInstanceUID.
        assert image_key(p, 0, p) == f"path:{p}/0"
        with pytest.raises(ValueError, match="SOPInstanceUID or a path"):
            image_key(None, 0, "")


class TestIdentify:
    def test_reads_uid_from_header(self, make_dicom: Callable[..., Path]) -> None:
        path = make_dicom("pid-1.dcm", SOPInstanceUID="1.2.826.0.1.99")
        ident = identify(str(path))
        assert (ident.key, ident.patient_id, ident.frame) == ("1.2.826.0.1.99/0", "pid-1", 0)

    def test_unreadable_file_is_keyed_by_path(self, tmp_path: Path) -> None:
        path = tmp_path / "junk.dcm"
        path.write_bytes(b"not dicom")
        ident = identify(str(path))
        assert ident.key.startswith("path:") and ident.patient_id == "junk"


class TestOneIdentity:
    @pytest.mark.parametrize("name", ["p1.dcm", "p2.DICOM", "p3.png", "1.2.840.5", "p4.ima"])
    def test_detect_train_and_convert_agree(self, tmp_path: Path, name: str) -> None:
        """detect's image_id_for, train's find_images and convert's names are patient_id_for."""
        from detector.commands.convert import output_stem
        from detector.files.image_files import find_images
        from detector.model.inference import image_id_for

        path = tmp_path / name
        path.write_bytes(b"")
        expected = patient_id_for(path)
        assert image_id_for(path) == expected
        assert output_stem(str(path)) == expected
        found = find_images(tmp_path)
        if found:  # find_images lists DICOM and PNG files only
            assert list(found) == [expected]
