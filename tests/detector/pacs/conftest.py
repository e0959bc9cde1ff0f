"""A REAL Orthanc for the PACS tests, on free loopback ports, with a config the test writes.

Skips with the reason where Orthanc is not installed (a developer's laptop); CI installs it
from Debian (``.ci/run``). Images are generated here and uploaded through Orthanc's REST API.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from detector.imaging.dicom_write import compress_jpeg_baseline, new_image_dataset, save_dataset
from tests.conftest import chest_like
from tests.orthanc_server import MISSING, OrthancError, free_port, installed, stop_process
from tests.orthanc_server import Orthanc as _Server

OUR_AET = "PVTEST"
MOVE_AET = "PVSTORE"
PACS_AET = "ORTHANCTEST"
USER, PASSWORD = "reader", "s3cret-Pa55"


@dataclass
class Orthanc(_Server):
    """The tests' Orthanc: it knows our AE titles, whose SCP listens on ``store_port``."""

    store_port: int = 0


def _start(root: Path, *, auth: bool) -> Orthanc:
    if not installed():
        pytest.skip(MISSING)
    store = free_port()
    o = Orthanc(
        root,
        PACS_AET,
        modalities={"pneumoview": (OUR_AET, store), "pneumoview-store": (MOVE_AET, store)},
        users={USER: PASSWORD} if auth else {},
        store_port=store,
    )
    try:
        o.start()
    except OrthancError as err:
        pytest.fail(str(err))
    return o


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """An Orthanc without authentication, emptied between modules."""
    o = _start(tmp_path_factory.mktemp("orthanc"), auth=False)
    yield o
    o.stop()


@pytest.fixture(scope="module")
def orthanc_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """An Orthanc with HTTP basic authentication (user ``reader``)."""
    o = _start(tmp_path_factory.mktemp("orthanc-auth"), auth=True)
    yield o
    o.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made by the openssl command: (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (it makes the test certificate)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 - openssl with our arguments
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BEARER_TOKEN = "tok-3f9a-SECRET-77"


@dataclass
class TlsProxy:
    """nginx terminating HTTPS in front of an Orthanc (Orthanc 1.10's own HTTPS crashes on
    the first connection: exit 139 with Debian's build), as PACS sites usually deploy it."""

    root: Path
    port: int
    cert: Path
    bearer_port: int = 0  # a second HTTPS port that wants ``Authorization: Bearer TOKEN``
    proc: subprocess.Popen[bytes] | None = None

    @property
    def web_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dicom-web"

    @property
    def bearer_url(self) -> str:
        return f"https://127.0.0.1:{self.bearer_port}/dicom-web"

    def start(self, orthanc: Orthanc) -> None:
        cert, key = self.cert, self.root / "key.pem"
        temp = self.root / "temp"
        temp.mkdir(exist_ok=True)
        paths = " ".join(
            f"{name}_temp_path {temp / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.root / "nginx.conf").write_text(
            f"daemon off; worker_processes 1; pid {self.root / 'nginx.pid'};\n"
            f"error_log {self.root / 'error.log'};\n"
            "events {}\n"
            f"http {{ access_log off; {paths}\n"
            f"  server {{ listen 127.0.0.1:{self.port} ssl;\n"
            f"    ssl_certificate {cert}; ssl_certificate_key {key};\n"
            "    client_max_body_size 0; proxy_buffering off;\n"
            f"    location / {{ proxy_pass http://127.0.0.1:{orthanc.http_port}; }} }}\n"
            f"  server {{ listen 127.0.0.1:{self.bearer_port} ssl;\n"
            f"    ssl_certificate {cert}; ssl_certificate_key {key};\n"
            "    client_max_body_size 0; proxy_buffering off;\n"
            f'    if ($http_authorization != "Bearer {BEARER_TOKEN}") {{ return 401; }}\n'
            f"    location / {{ proxy_pass http://127.0.0.1:{orthanc.http_port}; }} }} }}\n"
        )
        with (self.root / "nginx.out").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own test proxy
                [
                    NGINX,
                    "-p",
                    str(self.root),
                    "-e",
                    str(self.root / "error.log"),
                    "-c",
                    str(self.root / "nginx.conf"),
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_text = (self.root / "error.log").read_text(errors="replace")[-1500:]
                pytest.fail(f"nginx exited: {log_text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail("nginx did not listen within 15 s")

    def stop(self) -> None:
        stop_process(self.proc, wait=10)
        self.proc = None


@pytest.fixture(scope="module")
def tls_proxy(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    """HTTPS (self-signed, trusted by no system store) in front of the module's Orthanc."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed (apt-get install nginx-light; .ci/run does)")
    root = tmp_path_factory.mktemp("tls")
    cert, _key = self_signed(root)
    proxy = TlsProxy(root, free_port(), cert, bearer_port=free_port())
    proxy.start(orthanc)
    yield proxy
    proxy.stop()


@dataclass
class Study:
    """Generated images of one study, as files."""

    study_uid: str
    patient_id: str
    accession: str
    date: str
    modality: str
    files: list[Path]


def make_study(
    folder: Path,
    *,
    patient_id: str,
    accession: str,
    date: str,
    modality: str = "CR",
    images: int = 2,
    jpeg_first: bool = False,
    series: int = 1,
    size: int = 64,
) -> Study:
    """A study of ``images`` chest-like ``size``-px 8-bit images (the first JPEG Baseline when
    asked), dealt in turn into ``series`` series."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = pydicom.uid.generate_uid()
    series_uids = [pydicom.uid.generate_uid() for _ in range(series)]
    sop_class = "1.2.840.10008.5.1.4.1.1.1" if modality == "CR" else "1.2.840.10008.5.1.4.1.1.1.1"
    files = []
    for index in range(images):
        ds = new_image_dataset(
            chest_like(size, seed=index + len(patient_id)),
            sop_class_uid=sop_class,
            PatientID=patient_id,
            PatientName=f"SYNTHETIC^{patient_id}",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uids[index % series],
            AccessionNumber=accession,
            StudyDate=date,
            Modality=modality,
            InstanceNumber=index + 1,
        )
        if jpeg_first and index == 0:
            compress_jpeg_baseline(ds)
        path = folder / f"{patient_id}-{index}.dcm"
        save_dataset(ds, path)
        files.append(path)
    return Study(study_uid, patient_id, accession, date, modality, files)


@pytest.fixture(autouse=True)
def _own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config folder and no PACS credentials from the environment."""
    folder = tmp_path / "config"
    monkeypatch.setenv("PNEUMOVIEW_CONFIG_DIR", str(folder))
    for name in ("PNEUMOVIEW_PACS_USER", "PNEUMOVIEW_PACS_PASSWORD", "PNEUMOVIEW_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return folder
