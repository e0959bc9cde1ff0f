"""One error base class for every file that cannot be used, with one message format."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from detector.errors import PneumoViewError
from detector.files.image_files import DatasetError
from detector.files.output import OutputError
from detector.imaging.plain import PlainImageError
from detector.imaging.read import DicomReadError
from detector.model.build import BackboneWeightsError
from detector.model.checkpoint import CheckpointError
from detector.review.export import ExportError
from detector.review.store import SessionError
from detector.rsna.labels import LabelsError

SUBCLASSES = [
    CheckpointError,
    LabelsError,
    BackboneWeightsError,
    DicomReadError,
    PlainImageError,
    OutputError,
    ExportError,
    SessionError,
    DatasetError,
]


class TestPneumoViewError:
    def test_message_is_file_name_colon_reason(self) -> None:
        """str(err) is the last path component, ': ', then the reason."""
        err = PneumoViewError("/data/study/IM0001.dcm", "empty file (0 bytes)")
        assert str(err) == "IM0001.dcm: empty file (0 bytes)"

    def test_attributes_keep_the_whole_path_and_the_reason(self) -> None:
        """.path is the path as given (a str, also from a Path); .reason has no file name."""
        err = PneumoViewError(Path("runs/out/model.pt"), "file not found")
        assert err.path == str(Path("runs/out/model.pt"))
        assert err.reason == "file not found"

    def test_path_without_a_name_is_shown_whole(self) -> None:
        """A path with no last component ('/') is shown as it is, never as ': reason'."""
        assert str(PneumoViewError("/", "is a folder")) == "/: is a folder"

    @pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
    def test_every_file_error_is_caught_by_the_base(self, cls: type[PneumoViewError]) -> None:
        """Each file error class is a PneumoViewError with the same one-line format."""
        with pytest.raises(PneumoViewError) as info:
            raise cls("/tmp/some folder/labels.csv", "line 3: Target must be 0 or 1")
        assert type(info.value) is cls
        assert str(info.value) == "labels.csv: line 3: Target must be 0 or 1"
        assert info.value.path == "/tmp/some folder/labels.csv"
        assert info.value.reason == "line 3: Target must be 0 or 1"

    @pytest.mark.parametrize("cls", [OutputError, BackboneWeightsError], ids=lambda c: c.__name__)
    def test_value_error_subclasses_stay_value_errors(self, cls: type[PneumoViewError]) -> None:
        """Callers that catch ValueError still catch the two classes that were ValueErrors."""
        with pytest.raises(ValueError, match=r"^x\.csv: is a folder$"):
            raise cls("a/x.csv", "is a folder")

    @pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
    def test_survives_pickling(self, cls: type[PneumoViewError]) -> None:
        """An error sent from a worker process keeps its class, path, reason and message."""
        back = pickle.loads(pickle.dumps(cls("/a/b.dcm", "file not found")))
        assert type(back) is cls
        assert (back.path, back.reason, str(back)) == (
            "/a/b.dcm",
            "file not found",
            "b.dcm: file not found",
        )

    def test_real_raise_site_uses_the_format(self, tmp_path: Path) -> None:
        """A real failure (an empty file read as DICOM) carries the format and the attributes."""
        from detector.imaging.read import read_header

        empty = tmp_path / "empty.dcm"
        empty.write_bytes(b"")
        with pytest.raises(PneumoViewError) as info:
            read_header(empty)
        assert str(info.value) == "empty.dcm: empty file (0 bytes)"
        assert info.value.path == str(empty)
        assert info.value.reason == "empty file (0 bytes)"

    def test_cli_boundary_reports_a_file_error_as_one_line(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file error that reaches the command line is one stderr line and exit 1."""
        import detector.commands.info
        from detector.cli import main

        def fail(_args: object) -> int:
            raise CheckpointError("/models/real.pt", "truncated or corrupt file")

        monkeypatch.setattr(detector.commands.info, "run", fail)
        assert main(["info", "x.dcm"]) == 1
        captured = capsys.readouterr()
        assert captured.err == "pneumoview info: error: real.pt: truncated or corrupt file\n"
        assert "Traceback" not in captured.err

    def test_calibrate_reports_a_missing_checkpoint(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """calibrate catches the base class: a missing model is one line naming the file."""
        from detector.cli import main

        labels = tmp_path / "labels.csv"
        labels.write_text("patientId,x,y,width,height,Target\n")
        code = main(
            [
                "calibrate",
                "--model",
                str(tmp_path / "gone.pt"),
                "--labels",
                str(labels),
                "--images",
                str(tmp_path),
            ]
        )
        assert code == 1
        assert capsys.readouterr().err == "pneumoview calibrate: error: gone.pt: file not found\n"
