"""DICOMweb over HTTPS: a real Orthanc behind a real nginx with a self-signed certificate."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from detector.cli import main
from detector.pacs.servers import save_servers
from tests.detector.pacs.conftest import BEARER_TOKEN, Orthanc, Study, TlsProxy, make_study


@pytest.fixture(scope="module")
def study(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Study:
    orthanc.clear()
    made = make_study(
        tmp_path_factory.mktemp("tls-study"), patient_id="TLS1", accession="T1", date="20240105"
    )
    for path in made.files:
        orthanc.upload(path)
    return made


def _pacs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["pacs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_get_over_https_with_the_servers_ca_bundle(
    tls_proxy: TlsProxy, study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server entry with ``ca_bundle`` trusts that certificate: find and get work over
    HTTPS and the images are the PACS's, pixel for pixel."""
    save_servers([{"name": "secure", "url": tls_proxy.web_url, "ca_bundle": str(tls_proxy.cert)}])
    code, out, err = _pacs(capsys, "find", "--server", "secure", "--json")
    assert code == 0, err
    assert '"TLS1"' in out
    code, out, err = _pacs(
        capsys, "get", "--server", "secure", "--study", study.study_uid, "--out", str(tmp_path)
    )
    assert code == 0, err
    sent = {pydicom.dcmread(p).PixelData for p in study.files}
    got = sorted(tmp_path.glob("*.dcm"))
    assert len(got) == 2 and {pydicom.dcmread(p).PixelData for p in got} == sent


def test_an_untrusted_certificate_is_one_line(
    tls_proxy: TlsProxy, study: Study, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the CA bundle the certificate check fails: one line naming the server and the
    reason, exit 1, no traceback, and nothing is sent in clear instead."""
    code, out, err = _pacs(capsys, "find", "--server", tls_proxy.web_url)
    assert code == 1 and out == ""
    assert (
        err
        == f"pneumoview pacs: error: {tls_proxy.web_url}: QIDO-RS: the TLS certificate check failed\n"
    )


def test_plain_http_to_an_https_port_is_one_line(
    tls_proxy: TlsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """http:// to a server that speaks only HTTPS: one line, exit 1, within the timeout."""
    url = tls_proxy.web_url.replace("https://", "http://")
    code, _out, err = _pacs(capsys, "find", "--server", url, "--timeout", "3")
    assert code == 1
    assert err.startswith(f"pneumoview pacs: error: {url}: QIDO-RS: ") and err.count("\n") == 1
    assert "Traceback" not in err


class TestBearerToken:
    """A server behind a proxy that admits only ``Authorization: Bearer <token>``."""

    def test_without_the_token_is_401_in_one_line(
        self, tls_proxy: TlsProxy, study: Study, capsys: pytest.CaptureFixture[str]
    ) -> None:
        save_servers(
            [{"name": "sso", "url": tls_proxy.bearer_url, "ca_bundle": str(tls_proxy.cert)}]
        )
        code, _out, err = _pacs(capsys, "find", "--server", "sso")
        assert code == 1
        assert (
            err.endswith(
                "QIDO-RS: 401 Unauthorized: the user name, password or token is missing or wrong\n"
            )
            and err.count("\n") == 1
        )

    def test_the_token_from_the_environment_works_and_is_never_shown(
        self,
        tls_proxy: TlsProxy,
        study: Study,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("SSO_TOKEN", BEARER_TOKEN)
        save_servers(
            [
                {
                    "name": "sso",
                    "url": tls_proxy.bearer_url,
                    "ca_bundle": str(tls_proxy.cert),
                    "token_env": "SSO_TOKEN",
                }
            ]
        )
        # --verbose as well: what it prints must not hold the token either
        code = main(["--verbose", "pacs", "find", "--server", "sso", "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert '"TLS1"' in out
        code, out2, err2 = _pacs(
            capsys, "get", "--server", "sso", "--study", study.study_uid, "--out", str(tmp_path)
        )
        assert code == 0, err2
        assert len(list(tmp_path.glob("*.dcm"))) == 2
        assert BEARER_TOKEN not in out + err + out2 + err2
