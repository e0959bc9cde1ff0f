"""A private Orthanc on free loopback ports, for the PACS tests and bench/bench_pacs.py.

No pytest here: the tests' fixtures turn :class:`OrthancError` into a failure and a missing
install into a skip; the benchmark turns them into its exit message. The server is Debian's
``orthanc`` with the ``orthanc-dicomweb`` plugin (``.ci/run`` installs both); each instance gets
its own folder, config and ports, and ``DicomModalities`` lists the AE titles that may query it
(Debian's default refuses C-FIND/C-GET/C-MOVE from any other).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
MISSING = "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb; .ci/run does)"


class OrthancError(RuntimeError):
    """The server did not start or did not answer."""


def installed() -> bool:
    """Whether Orthanc and its DICOMweb plugin are here."""
    return os.access(ORTHANC, os.X_OK) and Path(DICOMWEB_PLUGIN).is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(
    proc: subprocess.Popen[bytes] | None, *, hard: bool = False, wait: float = 15.0
) -> None:
    """End a server we started: SIGTERM (``hard``: SIGKILL first), SIGKILL after ``wait`` s."""
    if proc is None or proc.poll() is not None:
        return
    if hard:
        proc.kill()
    proc.terminate()
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Orthanc:
    """A private Orthanc in ``root``.

    ``modalities``: name -> (AE title, port on 127.0.0.1) of the peers it serves and sends to.
    ``users``: HTTP basic users (authentication is on when there are some).
    """

    root: Path
    aet: str
    modalities: dict[str, tuple[str, int]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    timeout: float = 10.0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "orthanc.log"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    @property
    def dimse_url(self) -> str:
        return f"dimse://{self.aet}@127.0.0.1:{self.dicom_port}"

    def request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        """One call of Orthanc's REST API (as the first user when there are users)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        for user, password in list(self.users.items())[:1]:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - loopback
            return bytes(resp.read())

    def upload(self, path: Path) -> None:
        self.request("POST", "/instances", path.read_bytes())

    def clear(self) -> None:
        for pid in json.loads(self.request("GET", "/patients")):
            self.request("DELETE", f"/patients/{pid}")

    def instance_count(self) -> int:
        return len(json.loads(self.request("GET", "/instances")))

    def write_config(self) -> Path:
        (self.root / "db").mkdir(parents=True, exist_ok=True)
        config = {
            "Name": f"pneumoview-{self.aet.lower()}",
            "StorageDirectory": str(self.root / "db"),
            "IndexDirectory": str(self.root / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": dict(self.users),
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomModalities": {
                name: [aet, "127.0.0.1", port] for name, (aet, port) in self.modalities.items()
            },
            "HttpTimeout": 10,
            "StableAge": 1,
            "ConcurrentJobs": 1,
        }
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config, indent=1))
        return path

    def start(self, wait: float = 30.0) -> None:
        """Start it and wait until its REST API answers.

        Raises
        ------
        OrthancError
            It exited (the message ends with its log) or did not answer within ``wait`` s.
        """
        config = self.write_config()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own server
                [ORTHANC, str(config)],
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl+C reaches the caller, which stops it
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise OrthancError(f"Orthanc exited: {tail}")
            try:
                self.request("GET", "/system")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise OrthancError(f"Orthanc did not answer within {wait:.0f} s; see {self.log}")

    def stop(self, *, hard: bool = False) -> None:
        """Stop the server (``hard``: SIGKILL, a server that dies mid-transfer)."""
        stop_process(self.proc, hard=hard)
        self.proc = None


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.orthanc_server ROOT AET HTTP_PORT DICOM_PORT [NAME=AET:PORT ...]``:
    the same Orthanc for a shell script (bench/pacs_real16.sh); runs until SIGTERM or Ctrl+C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("aet")
    parser.add_argument("http_port", type=int)
    parser.add_argument("dicom_port", type=int)
    parser.add_argument("modalities", nargs="*", metavar="NAME=AET:PORT")
    args = parser.parse_args(argv)
    if not installed():
        print(MISSING)
        return 1
    peers = {}
    for item in args.modalities:
        name, _, rest = item.partition("=")
        aet, _, port = rest.partition(":")
        peers[name] = (aet, int(port))
    server = Orthanc(
        args.root, args.aet, peers, http_port=args.http_port, dicom_port=args.dicom_port
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl+C
    try:
        server.start()
        print(f"Orthanc {server.web_url} {server.dimse_url}", flush=True)
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        return 1
    except OrthancError as err:
        print(err)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
