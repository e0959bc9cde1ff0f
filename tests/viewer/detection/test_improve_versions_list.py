"""The Detection dock's list of improved versions: whole lines reachable in a narrow dock."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from detector.improve.versions import models_dir
from viewer.detection.improve_panel import ImproveUI


def test_each_version_keeps_its_whole_summary_as_tooltip(qtbot, tmp_path: Path) -> None:
    """Seen under Xvfb: 'demo-v1: RSNA 0.5000 → 0.' was all the dock showed of a version."""
    session = tmp_path / "read.sqlite"
    session.write_bytes(b"")
    folder = models_dir(session)
    folder.mkdir()
    (folder / "demo-v1.pt").write_bytes(b"x")
    (folder / "demo-v1.json").write_text(
        '{"better": false, "metrics_before": {"rsna_map": 0.5}, "metrics_after": {"rsna_map": 0.5}}'
    )
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    ui = ImproveUI(lambda: str(session), lambda: "", lambda _p: None, parent)
    ui.panel.setParent(parent)  # as the Detection dock holds it: closed with its owner
    ui.refresh_versions()
    whole = "demo-v1: RSNA 0.5000 → 0.5000 on the holdout (not better)"
    assert ui.panel.versions.itemText(0) == whole
    assert ui.panel.versions.itemData(0, QtCore.Qt.ItemDataRole.ToolTipRole) == whole
    assert ui.panel.versions.toolTip() == whole
