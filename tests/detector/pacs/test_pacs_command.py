"""``pneumoview pacs echo|find|get|send`` against a real Orthanc, over DICOMweb and DIMSE."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from detector.cli import main
from tests.detector.pacs.conftest import (
    MOVE_AET,
    OUR_AET,
    PASSWORD,
    USER,
    Orthanc,
    Study,
    make_study,
)
from tests.orthanc_server import free_port


@pytest.fixture(scope="module")
def studies(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Study]:
    """Three studies in Orthanc: P1 (CR, Jan 2024, 2 images, one JPEG), P2 (DX), P3 (CR, 2023)."""
    folder = tmp_path_factory.mktemp("studies")
    made = {
        "P1": make_study(
            folder, patient_id="P1", accession="ACC1", date="20240105", jpeg_first=True
        ),
        "P2": make_study(
            folder, patient_id="P2", accession="ACC2", date="20240310", modality="DX", images=1
        ),
        "P3": make_study(folder, patient_id="P3", accession="ACC3", date="20231220", images=1),
    }
    for study in made.values():
        for path in study.files:
            orthanc.upload(path)
    return made


def server_args(orthanc: Orthanc, protocol: str) -> list[str]:
    if protocol == "dicomweb":
        return ["--server", orthanc.web_url]
    return ["--server", orthanc.dimse_url, "--calling-aet", OUR_AET]


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*argv) -> (exit code, stdout, stderr)`` of ``pneumoview pacs ...``."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["pacs", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def assert_one_line(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


PROTOCOLS = ["dicomweb", "dimse"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echo(orthanc: Orthanc, run: Run, protocol: str) -> None:
    code, out, err = run("echo", *server_args(orthanc, protocol))
    assert (code, err) == (0, "")
    assert out.endswith(": answers\n")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], ["P1", "P2", "P3"]),
        (["--patient", "P1"], ["P1"]),
        (["--study-date", "20240101-20240131"], ["P1"]),
        (["--study-date", "..2023-12-31"], ["P3"]),
        (["--modality", "DX"], ["P2"]),
        (["--accession", "ACC3"], ["P3"]),
    ],
)
def test_find_by_each_filter(
    orthanc: Orthanc,
    studies: dict[str, Study],
    run: Run,
    protocol: str,
    filters: list[str],
    expected: list[str],
) -> None:
    """Each filter narrows the list to the studies it matches, with all result columns."""
    code, out, err = run("find", *server_args(orthanc, protocol), *filters, "--json")
    assert code == 0, err
    found = sorted(json.loads(out), key=lambda r: r["patient_id"])
    assert [r["patient_id"] for r in found] == expected
    for row in found:
        study = studies[row["patient_id"]]
        assert row["study_uid"] == study.study_uid
        assert row["accession"] == study.accession
        assert row["study_date"] == study.date
        assert row["modalities"] == [study.modality]
        assert row["images"] == len(study.files)


def test_find_table(orthanc: Orthanc, studies: dict[str, Study], run: Run) -> None:
    code, out, err = run("find", *server_args(orthanc, "dicomweb"), "--patient", "P2")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["PATIENT", "ID", "NAME"]
    assert studies["P2"].study_uid in out.splitlines()[1]
    assert err == "1 study\n"


def assert_same_pixels(originals: list[Path], out_dir: Path) -> None:
    """Every original is in ``out_dir`` as ``<SOPInstanceUID>.dcm`` with identical pixel bytes."""
    for path in originals:
        original = pydicom.dcmread(path)
        copy = pydicom.dcmread(out_dir / f"{original.SOPInstanceUID}.dcm")
        assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert copy.PixelData == original.PixelData


@pytest.mark.parametrize(
    ("protocol", "extra"),
    [("dicomweb", []), ("dimse", []), ("dimse", ["--move-dest", MOVE_AET])],
    ids=["wado-rs", "c-get", "c-move"],
)
def test_get_is_pixel_identical_and_resumes(
    orthanc: Orthanc,
    studies: dict[str, Study],
    run: Run,
    tmp_path: Path,
    protocol: str,
    extra: list[str],
) -> None:
    """A study by UID arrives byte-identical (JPEG and native); a second get skips it all."""
    if extra:
        extra = [*extra, "--store-port", str(orthanc.store_port)]
    study = studies["P1"]
    out = tmp_path / "got"
    argv = ["get", *server_args(orthanc, protocol), "--study", study.study_uid, "--out", str(out)]
    code, stdout, err = run(*argv, *extra, "--quiet")
    assert code == 0, err
    assert stdout.startswith("2 images retrieved, 0 already in")
    assert_same_pixels(study.files, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{pydicom.dcmread(p).SOPInstanceUID}.dcm" for p in study.files
    )
    code, stdout, _err = run(*argv, *extra, "--quiet")
    assert code == 0
    assert stdout.startswith("0 images retrieved, 2 already in")


def test_get_by_filter(
    orthanc: Orthanc, studies: dict[str, Study], run: Run, tmp_path: Path
) -> None:
    code, _out, err = run(
        "get", *server_args(orthanc, "dimse"), "--modality", "DX", "--out", str(tmp_path), "--quiet"
    )
    assert code == 0, err
    assert_same_pixels(studies["P2"].files, tmp_path)
    assert len(list(tmp_path.glob("*.dcm"))) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_send_and_read_back(orthanc: Orthanc, run: Run, tmp_path: Path, protocol: str) -> None:
    """A folder is sent; a file that is not DICOM is counted as failed with its reason."""
    study = make_study(
        tmp_path / "send", patient_id=f"SEND-{protocol}", accession=f"S-{protocol}", date="20240601"
    )
    (tmp_path / "send" / "notes.txt").write_text("not an image")
    code, out, err = run("send", *server_args(orthanc, protocol), str(tmp_path / "send"), "--quiet")
    assert code == 1
    assert out.startswith("2 sent, 1 failed to ")
    assert err == "pneumoview pacs: notes.txt: not a DICOM file\n"
    code, out, _err = run(
        "get",
        *server_args(orthanc, "dicomweb"),
        "--accession",
        f"S-{protocol}",
        "--out",
        str(tmp_path / "back"),
        "--quiet",
    )
    assert code == 0
    assert_same_pixels(study.files, tmp_path / "back")


def test_refused_calling_aet(orthanc: Orthanc, run: Run) -> None:
    """An AE title the PACS does not list: one line naming the server and our AE title."""
    code, _out, err = run("find", "--server", orthanc.dimse_url, "--calling-aet", "STRANGER")
    assert code == 1
    assert_one_line(err)
    assert err.startswith(f"pneumoview pacs: error: {orthanc.dimse_url}: ")
    assert "'STRANGER'" in err


def test_refused_called_aet(orthanc: Orthanc, run: Run) -> None:
    url = orthanc.dimse_url.replace("ORTHANCTEST", "NOTTHEPACS")
    code, _out, err = run("echo", "--server", url, "--calling-aet", OUR_AET)
    assert code == 1
    assert_one_line(err)
    assert "refused the association" in err


@pytest.mark.parametrize(
    "scheme", ["dimse://PACS@127.0.0.1:{port}", "http://127.0.0.1:{port}/dicom-web"]
)
def test_dead_port(run: Run, scheme: str) -> None:
    """Nothing listens: one line that names the server, no traceback."""
    url = scheme.format(port=free_port())
    code, _out, err = run("echo", "--server", url, "--timeout", "2")
    assert code == 1
    assert_one_line(err)
    assert err.startswith(f"pneumoview pacs: error: {url}: ")
    assert "connect" in err


class TestAuth:
    def test_401_without_credentials(self, orthanc_auth: Orthanc, run: Run) -> None:
        code, _out, err = run("echo", "--server", orthanc_auth.web_url)
        assert code == 1
        assert_one_line(err)
        assert "401 Unauthorized" in err

    def test_works_with_credentials_never_shown(
        self,
        orthanc_auth: Orthanc,
        run: Run,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Env credentials, a servers-file entry and user:password@ in the URL all work; the
        password is in no output and no log, --verbose included."""
        study = make_study(
            tmp_path / "s", patient_id="AUTH1", accession="AUTH", date="20240101", images=1
        )
        orthanc_auth.upload(study.files[0])
        monkeypatch.setenv("PNEUMOVIEW_PACS_USER", USER)
        monkeypatch.setenv("PNEUMOVIEW_PACS_PASSWORD", PASSWORD)
        code, out, err = run("find", "--server", orthanc_auth.web_url, "--json")
        assert code == 0, err
        assert [r["patient_id"] for r in json.loads(out)] == ["AUTH1"]
        monkeypatch.delenv("PNEUMOVIEW_PACS_PASSWORD")
        monkeypatch.setenv("SITE_PW", PASSWORD)
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        (config / "pacs_servers.json").write_text(
            json.dumps(
                {
                    "servers": [
                        {
                            "name": "site",
                            "url": orthanc_auth.web_url,
                            "username": USER,
                            "password_env": "SITE_PW",
                        }
                    ]
                }
            )
        )
        monkeypatch.setenv("PNEUMOVIEW_CONFIG_DIR", str(config))
        outputs = [out, err]
        in_url = orthanc_auth.web_url.replace("//", f"//{USER}:{PASSWORD}@")
        for argv, expected in (
            (
                [
                    "-v",
                    "pacs",
                    "get",
                    "--server",
                    "site",
                    "--study",
                    study.study_uid,
                    "--out",
                    str(tmp_path / "o"),
                ],
                0,
            ),
            (["pacs", "echo", "--server", in_url], 0),
            (["-v", "pacs", "echo", "--server", in_url.replace(PASSWORD, "wrong")], 1),
            (["pacs", "find", "--server", in_url.replace("/dicom-web", "/nothing-here")], 1),
        ):
            assert main(argv) == expected
            captured = capsys.readouterr()
            outputs.extend([captured.out, captured.err])
        assert "404 Not Found" in outputs[-1]
        assert (tmp_path / "o" / f"{pydicom.dcmread(study.files[0]).SOPInstanceUID}.dcm").is_file()
        everything = "".join(outputs) + caplog.text
        assert PASSWORD not in everything
