"""Servers file, URL forms and credentials that never show (no server needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from detector.pacs.errors import PacsError
from detector.pacs.servers import (
    ServersFileError,
    load_servers,
    parse_url,
    resolve_server,
    save_servers,
    servers_file,
)


class TestParseUrl:
    def test_dicomweb(self) -> None:
        """An http(s) base URL is a DICOMweb server, without a trailing slash."""
        s = parse_url("https://pacs.example.org:8443/dicom-web/")
        assert (s.protocol, s.url) == ("dicomweb", "https://pacs.example.org:8443/dicom-web")

    def test_dimse(self) -> None:
        """dimse://AET@host:port gives the called AE title, host and port."""
        s = parse_url("dimse://ORTHANC@10.0.0.5:4242")
        assert (s.protocol, s.called_aet, s.host, s.port) == ("dimse", "ORTHANC", "10.0.0.5", 4242)
        assert s.calling_aet == "PNEUMOVIEW"

    def test_credentials_in_url_are_taken_out_and_never_shown(self) -> None:
        """user:password@ moves into the credentials; label, repr and errors do not show it."""
        s = parse_url("http://reader:TopSecret@host:8042/dicom-web")
        assert (s.username, s.password) == ("reader", "TopSecret")
        assert s.url == "http://host:8042/dicom-web"
        for text in (s.label, repr(s), str(s)):
            assert "TopSecret" not in text and "reader" not in text

    @pytest.mark.parametrize(
        ("url", "words"),
        [
            ("ftp://host/x", "not a server URL"),
            ("dimse://host:4242", "dimse://AET@host:port"),
            ("dimse://AET@host", "dimse://AET@host:port"),
            ("dimse://WAY-TOO-LONG-AE-TITLE@host:104", "not an AE title"),
            ("http://host:99999/dicom-web", "port"),
        ],
    )
    def test_bad_urls(self, url: str, words: str) -> None:
        """A wrong URL is one PacsError naming what is wrong."""
        with pytest.raises(PacsError, match=words):
            parse_url(url)

    def test_bad_url_error_hides_the_password(self) -> None:
        with pytest.raises(PacsError) as info:
            parse_url("http://u:TopSecret@host:notaport/dicom-web")
        assert "TopSecret" not in str(info.value)


class TestServersFile:
    def test_no_file_is_no_servers(self) -> None:
        assert load_servers() == []

    def test_entries_and_password_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Both kinds of entry; the password comes from the variable the entry names."""
        monkeypatch.setenv("MY_PACS_PW", "from-env")
        path = save_servers(
            [
                {
                    "name": "web",
                    "url": "http://h:8042/dicom-web",
                    "username": "u",
                    "password_env": "MY_PACS_PW",
                    "timeout": 3,
                },
                {
                    "name": "dimse",
                    "url": "dimse://PACS@h:104",
                    "calling_aet": "ME",
                    "store_port": 11112,
                },
            ]
        )
        assert path == servers_file()
        web, dimse = load_servers()
        assert (web.name, web.username, web.password, web.connect_timeout) == (
            "web",
            "u",
            "from-env",
            3.0,
        )
        assert (dimse.calling_aet, dimse.store_port) == ("ME", 11112)
        assert resolve_server("dimse") == dimse

    @pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
    def test_saved_for_the_user_only(self) -> None:
        path = save_servers([{"name": "a", "url": "http://h/dicom-web", "password": "x"}])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_unset_env_variable(self) -> None:
        save_servers([{"name": "a", "url": "http://h/dicom-web", "password_env": "NOT_SET_PV"}])
        with pytest.raises(ServersFileError, match=r"NOT_SET_PV.*not set"):
            load_servers()

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("{not json", "is not JSON"),
            ('{"servers": 3}', '"servers" list'),
            ('{"servers": [{"url": "http://h/dicom-web"}]}', "has no name"),
            ('{"servers": [{"name": "x", "url": "gopher://h"}]}', "not a server URL"),
        ],
    )
    def test_bad_file(self, _own_config: Path, text: str, words: str) -> None:
        """A broken servers file is one line naming the file."""
        _own_config.mkdir(parents=True, exist_ok=True)
        (_own_config / "pacs_servers.json").write_text(text)
        with pytest.raises(ServersFileError, match=words) as info:
            load_servers()
        assert str(info.value).startswith("pacs_servers.json: ")

    def test_unknown_name_lists_the_known(self) -> None:
        save_servers([{"name": "main", "url": "http://h/dicom-web"}])
        with pytest.raises(PacsError, match=r"no such server \(known: main\)"):
            resolve_server("other")

    def test_url_server_reads_credentials_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PNEUMOVIEW_PACS_USER", "u")
        monkeypatch.setenv("PNEUMOVIEW_PACS_PASSWORD", "p")
        s = resolve_server("http://h:8042/dicom-web")
        assert (s.username, s.password) == ("u", "p")
        assert "password" not in repr(s) and "'p'" not in repr(s)
