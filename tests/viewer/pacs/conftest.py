"""The PACS window tests use the REAL Orthanc of the PACS core tests (skipped without Orthanc)."""

from __future__ import annotations

import pytest

from tests.detector.pacs.conftest import orthanc  # noqa: F401 - the shared fixture


@pytest.fixture(autouse=True)
def _no_pacs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PACS credentials from the developer's environment."""
    for name in ("PNEUMOVIEW_PACS_USER", "PNEUMOVIEW_PACS_PASSWORD", "PNEUMOVIEW_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
