"""Versions beside a session: names, listing, unreadable lineage files."""

from __future__ import annotations

from pathlib import Path

from detector.improve.versions import base_name, list_versions, models_dir, next_version_path


def test_next_version_counts_past_the_highest(tmp_path: Path) -> None:
    session = tmp_path / "read.sqlite"
    assert next_version_path(session, "/m/tiny.pt") == tmp_path / "read.sqlite.models/tiny-v1.pt"
    folder = models_dir(session)
    folder.mkdir()
    (folder / "tiny-v1.pt").write_bytes(b"x")
    (folder / "tiny-v3.json").write_text("{}")
    (folder / "other-v7.pt").write_bytes(b"x")
    assert next_version_path(session, folder / "tiny-v1.pt") == folder / "tiny-v4.pt"
    assert base_name("a/real-v12.pt") == "real" and base_name("real.pt") == "real"


def test_list_versions_reads_lineage_and_names_bad_files(tmp_path: Path) -> None:
    session = tmp_path / "read.sqlite"
    folder = models_dir(session)
    folder.mkdir()
    for n in (2, 10, 1):
        (folder / f"tiny-v{n}.pt").write_bytes(b"x")
    (folder / "tiny-v1.json").write_text(
        '{"better": true, "metrics_before": {"rsna_map": 0.1}, "metrics_after": {"rsna_map": 0.25}}'
    )
    (folder / "tiny-v2.json").write_bytes(b"\xff\xfe not json")
    versions = list_versions(session)
    assert [v.name for v in versions] == ["tiny-v1", "tiny-v2", "tiny-v10"]
    assert versions[0].summary() == "tiny-v1: RSNA 0.1000 → 0.2500 on the holdout (better)"
    assert versions[1].summary() == "tiny-v2 (lineage unreadable: not UTF-8 text)"
    assert versions[2].summary() == "tiny-v10 (lineage unreadable: no lineage file)"
