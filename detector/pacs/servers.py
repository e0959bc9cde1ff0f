"""PACS servers: the servers file, the two URL forms, and a display that never shows credentials.

The servers file is ``pacs_servers.json`` in the per-user config folder (the folder of the
viewer's ``pneumoview.ini``; ``$PNEUMOVIEW_CONFIG_DIR`` wins)::

    {"schema_version": 1,
     "servers": [
       {"name": "orthanc-web", "url": "https://pacs.example.org/dicom-web",
        "username": "reader", "password_env": "PACS_PASSWORD", "ca_bundle": "/etc/ssl/pacs.pem"},
       {"name": "orthanc", "url": "dimse://ORTHANC@pacs.example.org:4242",
        "calling_aet": "PNEUMOVIEW", "store_port": 11113, "timeout": 10}
     ]}

A server is used by name (``--server orthanc``) or given as a URL: ``http(s)://host:port/dicom-web``
for DICOMweb, ``dimse://AET@host:port`` for DIMSE. Credentials come from the file (``password``,
``token``) or, better, from an environment variable it names (``password_env``, ``token_env``);
a URL server reads ``$PNEUMOVIEW_PACS_USER``/``$PNEUMOVIEW_PACS_PASSWORD`` or
``$PNEUMOVIEW_PACS_TOKEN``. :attr:`Server.label` and ``repr`` never contain a credential.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from detector.errors import PneumoViewError
from detector.files.output import atomic_write_text
from detector.pacs.errors import PacsError

logger = logging.getLogger(__name__)

CONFIG_ENV = "PNEUMOVIEW_CONFIG_DIR"
SERVERS_FILE = "pacs_servers.json"
SCHEMA_VERSION = 1
DEFAULT_CALLING_AET = "PNEUMOVIEW"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
USER_ENV = "PNEUMOVIEW_PACS_USER"
PASSWORD_ENV = "PNEUMOVIEW_PACS_PASSWORD"
TOKEN_ENV = "PNEUMOVIEW_PACS_TOKEN"
_AET_RE = re.compile(r"^[\x21-\x5b\x5d-\x7e][\x20-\x5b\x5d-\x7e]{0,15}$")


class ServersFileError(PneumoViewError):
    """The servers file cannot be used (``"pacs_servers.json: <reason>"``)."""


def config_dir() -> Path:
    """The per-user config folder (the one Qt's ``AppConfigLocation`` gives the viewer)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "pneumoview"
    if sys.platform == "darwin":
        return home / "Library" / "Preferences" / "pneumoview"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base / "pneumoview"


def servers_file() -> Path:
    """Where the servers list lives."""
    return config_dir() / SERVERS_FILE


@dataclass(frozen=True)
class Server:
    """One PACS server.

    Attributes
    ----------
    name : str
        Its name in the servers file, or ``""`` for a server given as a URL.
    protocol : {"dicomweb", "dimse"}
    url : str
        DICOMweb base URL (no credentials in it); ``""`` for DIMSE.
    called_aet, host, port : str, str, int
        The DIMSE peer.
    calling_aet : str
        Our own AE title (the one the PACS must list).
    store_port : int
        Port of the storage SCP the app starts for C-MOVE (0: choose when moving).
    username, password, token : str
        HTTP basic or bearer credentials (never shown).
    ca_bundle : str
        A CA bundle file for TLS, ``""`` for the system's.
    connect_timeout, read_timeout : float
        Seconds.
    """

    name: str = ""
    protocol: str = "dicomweb"
    url: str = ""
    called_aet: str = ""
    host: str = ""
    port: int = 0
    calling_aet: str = DEFAULT_CALLING_AET
    store_port: int = 0
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    ca_bundle: str = ""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT

    @property
    def address(self) -> str:
        """The server's URL, without credentials."""
        if self.protocol == "dimse":
            return f"dimse://{self.called_aet}@{self.host}:{self.port}"
        return self.url

    @property
    def label(self) -> str:
        """How messages name the server: ``name (address)`` or the address; no credentials."""
        return f"{self.name} ({self.address})" if self.name else self.address

    def __repr__(self) -> str:
        auth = "bearer" if self.token else ("basic" if self.username else "none")
        return f"Server({self.label!r}, calling_aet={self.calling_aet!r}, auth={auth})"

    def with_timeout(self, seconds: float | None) -> Server:
        """A copy whose connect timeout is ``seconds`` (unchanged for ``None``)."""
        return self if seconds is None else replace(self, connect_timeout=float(seconds))


def _check_aet(text: str, what: str, label: str) -> str:
    if not _AET_RE.match(text) or text != text.strip():
        raise PacsError(
            label, f"{what} {text!r} is not an AE title (1-16 characters, no backslash)"
        )
    return text


def _strip_credentials(url: str) -> tuple[str, str, str]:
    """``url`` without ``user:password@``, and the two."""
    parts = urlsplit(url)
    user, password = parts.username or "", parts.password or ""
    if "@" not in parts.netloc:
        return url, "", ""
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc)), user, password


def parse_url(url: str, *, name: str = "", **options: Any) -> Server:
    """A :class:`Server` from ``http(s)://host:port/dicom-web`` or ``dimse://AET@host:port``.

    Raises
    ------
    PacsError
        Not one of the two forms (the message shows the URL without credentials).
    """
    url = url.strip()
    scheme = urlsplit(url).scheme.lower()
    # In dimse://AET@host:port the part before "@" is the AE title, not a user name.
    clean, user, password = (
        _strip_credentials(url) if scheme in ("http", "https") else (url, "", "")
    )
    label = name or clean
    parts = urlsplit(clean)
    try:
        port = parts.port
    except ValueError:
        raise PacsError(label, "the port is not a number from 1 to 65535") from None
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise PacsError(label, "no host in the URL")
        return Server(
            name=name,
            protocol="dicomweb",
            url=clean.rstrip("/"),
            username=options.pop("username", "") or user,
            password=options.pop("password", "") or password,
            **options,
        )
    if scheme == "dimse":
        at = parts.netloc.rfind("@")
        aet = parts.netloc[:at] if at > 0 else ""
        if not aet or not parts.hostname or port is None:
            raise PacsError(label, "a DIMSE server is written dimse://AET@host:port")
        return Server(
            name=name,
            protocol="dimse",
            called_aet=_check_aet(aet, "called AE title", label),
            host=parts.hostname,
            port=port,
            **options,
        )
    raise PacsError(
        label, "not a server URL: use http(s)://host:port/dicom-web or dimse://AET@host:port"
    )


def _secret(entry: dict[str, Any], key: str, where: str) -> str:
    """``entry[key]``, or the variable ``entry[key + "_env"]`` names."""
    env_name = entry.get(f"{key}_env")
    if env_name:
        value = os.environ.get(str(env_name))
        if value is None:
            raise ServersFileError(where, f"{key}_env names ${env_name}, which is not set")
        return value
    value = entry.get(key, "")
    return value if isinstance(value, str) else ""


def _server_from_entry(entry: Any, index: int, path: Path) -> Server:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise ServersFileError(path, f"server {index + 1} has no name")
    if not isinstance(entry.get("url"), str):
        raise ServersFileError(path, f"server {entry['name']!r} has no url")
    options: dict[str, Any] = {}
    try:
        if "calling_aet" in entry:
            options["calling_aet"] = _check_aet(
                str(entry["calling_aet"]), "calling_aet", entry["name"]
            )
        if "store_port" in entry:
            options["store_port"] = int(entry["store_port"])
        if "timeout" in entry:
            options["connect_timeout"] = float(entry["timeout"])
        if "read_timeout" in entry:
            options["read_timeout"] = float(entry["read_timeout"])
        if "ca_bundle" in entry:
            options["ca_bundle"] = str(entry["ca_bundle"])
    except (TypeError, ValueError):
        raise ServersFileError(
            path, f"server {entry['name']!r}: a number is not a number"
        ) from None
    options["username"] = _secret(entry, "username", str(path))
    options["password"] = _secret(entry, "password", str(path))
    options["token"] = _secret(entry, "token", str(path))
    try:
        return parse_url(entry["url"], name=entry["name"], **options)
    except PacsError as err:
        raise ServersFileError(path, f"server {entry['name']!r}: {err.reason}") from None


def load_servers(path: Path | None = None) -> list[Server]:
    """The servers in the servers file (``[]`` when there is none).

    Raises
    ------
    ServersFileError
        The file cannot be read, is not JSON, or an entry is wrong.
    """
    path = servers_file() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ServersFileError(path, f"cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServersFileError(path, f"is not JSON (line {exc.lineno}: {exc.msg})") from None
    entries = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ServersFileError(path, 'has no "servers" list')
    servers = [_server_from_entry(e, i, path) for i, e in enumerate(entries)]
    if any(s.password or s.token for s in servers) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s holds a password but others can read it: chmod 600 it", path)
    return servers


def save_servers(servers: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Write the servers file (entries as in the file format), readable by the user only."""
    path = servers_file() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"schema_version": SCHEMA_VERSION, "servers": servers}, indent=1) + "\n"
    atomic_write_text(path, text)
    os.chmod(path, 0o600)
    return path


def resolve_server(name_or_url: str, *, path: Path | None = None) -> Server:
    """The server named ``name_or_url`` in the servers file, or the server that URL gives.

    Raises
    ------
    PacsError
        Neither a known name nor a server URL.
    ServersFileError
        The servers file is wrong.
    """
    if "://" in name_or_url:
        server = parse_url(name_or_url)
        if server.protocol == "dicomweb" and not server.username:
            server = replace(
                server,
                username=os.environ.get(USER_ENV, ""),
                password=os.environ.get(PASSWORD_ENV, ""),
            )
        if server.protocol == "dicomweb" and not server.token:
            server = replace(server, token=os.environ.get(TOKEN_ENV, ""))
        return server
    servers = load_servers(path)
    for server in servers:
        if server.name == name_or_url:
            return server
    known = ", ".join(s.name for s in servers) or f"none; add them to {path or servers_file()}"
    raise PacsError(name_or_url, f"no such server (known: {known})")
