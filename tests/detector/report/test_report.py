"""The reading report: numbers on a hand-built session, the command's one-line errors, escaping,
and the page opened in a real headless Chromium (its plots load, a note's script never runs)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from detector.cli import main
from detector.report.figures import report_numbers
from detector.report.versions import read_versions
from detector.review import ModelInfo, open_session

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
NOTE = "<script>document.body.setAttribute('data-pwned','1')</script>"


@pytest.fixture
def session(tmp_path: Path) -> Path:
    """Four images, model m.pt (threshold 0.5), a 40 s clock:

    a: prediction 0.9 accepted, ground truth at the same place, reviewed (30 s);
    b: prediction 0.8 rejected, no ground truth, reviewed "no opacity" (10 s; the note NOTE);
    c: no prediction, ground truth, reviewed (20 s) without accepting anything (reader keeps GT);
    d: unreviewed.
    """
    path = tmp_path / "s.sqlite"
    ticks = itertools.count(1_000_000, 40)
    state, store = open_session(path, reviewer="dr_a", clock=lambda: float(next(ticks)))
    state.add_model(ModelInfo("m.pt", threshold=0.5, meta={"threshold": 0.5}))
    for key, pid in (("1/0", "pa"), ("2/0", "pb<i>"), ("3/0", "pc"), ("4/0", "pd")):
        state.add_image(key, pid)
    (a,) = state.set_predictions("1/0", "m.pt", [((10, 10, 50, 50), 0.9)])
    state.add_ground_truth("1/0", [(10, 10, 50, 50)], "gt.csv")
    state.accept(a.id)
    state.add_seconds("1/0", 30)
    state.mark_reviewed("1/0")
    (b,) = state.set_predictions("2/0", "m.pt", [((10, 10, 50, 50), 0.8)])
    state.reject(b.id)
    state.set_image_note("2/0", NOTE)
    state.add_seconds("2/0", 10)
    state.mark_no_opacity("2/0")
    state.set_predictions("3/0", "m.pt", [])
    state.add_ground_truth("3/0", [(0, 0, 20, 20)], "gt.csv")
    state.add_seconds("3/0", 20)
    state.mark_reviewed("3/0")
    store.close()
    return path


class TestReportNumbers:
    def test_pairs_per_image_and_overall(self, session: Path) -> None:
        state, store = open_session(session, create=False, read_only=True)
        numbers = report_numbers(state, store.read_log())
        store.close()
        assert (numbers.images, numbers.finished) == (4, 3)
        by_id = {r.patient_id: r for r in numbers.rows}
        assert by_id["pa"].boxes == {"reader": 1, "model": 1, "original": 1}
        assert by_id["pb<i>"].boxes == {"reader": 0, "model": 1, "original": 0}
        assert by_id["pc"].boxes == {"reader": 1, "model": 0, "original": 1}
        # pa: every set agrees (1.0); pb: a model box on a negative image (0.0); pc: the model
        # missed the ground truth the reader kept (0.0).
        assert by_id["pa"].scores[("reader", "model")] == 1.0
        assert by_id["pb<i>"].scores[("reader", "model")] == 0.0
        assert by_id["pc"].scores[("original", "model")] == 0.0
        assert by_id["pb<i>"].scores[("original", "reader")] is None  # nothing either side
        assert numbers.overall[("reader", "model")] == pytest.approx(1 / 3)
        assert numbers.overall[("original", "reader")] == 1.0
        assert numbers.agreement[("reader", "model")] == pytest.approx(1 / 3)
        assert numbers.agreement[("original", "reader")] == 1.0

    def test_pace_and_edits_per_box(self, session: Path) -> None:
        state, store = open_session(session, create=False, read_only=True)
        numbers = report_numbers(state, store.read_log())
        store.close()
        assert numbers.speed is not None and numbers.speed.images == 3
        assert numbers.speed.median_seconds == 20
        assert [s for _h, s in numbers.pace] == [30, 10, 20]  # in the order they were finished
        # a's prediction: accepted once; b's: rejected once; a's and c's ground truth: never.
        assert numbers.edits_per_box == {0: 2, 1: 2}


class TestVersions:
    def test_readable_versions_and_one_line_per_bad_file(self, session: Path) -> None:
        folder = session.with_name("s.sqlite.models")
        folder.mkdir()
        (folder / "base-v1.json").write_text(
            '{"parent": {"path": "/m/base.pt", "sha256": "00"}, "date": "2026-12-01",'
            ' "metrics": {"before": {"rsna_map": 0.1}, "after": {"rsna_map": 0.3, "x": "no"}}}'
        )
        (folder / "base-v2.json").write_text("{not json")
        (folder / "base-v3.json").write_text("[1, 2]")
        versions, problems = read_versions(session)
        assert [(v.name, v.parent, v.before, v.after) for v in versions] == [
            ("base-v1", "base.pt", {"rsna_map": 0.1}, {"rsna_map": 0.3})
        ]
        assert problems == [
            "base-v2.json: not JSON (Expecting property name enclosed in double quotes, line 1)",
            "base-v3.json: not a JSON object",
        ]

    def test_no_folder_is_no_versions(self, session: Path) -> None:
        assert read_versions(session) == ([], [])


class TestReportCommand:
    def test_writes_the_page_and_its_plots(self, session: Path, tmp_path: Path, capsys) -> None:
        out = tmp_path / "report"
        assert main(["report", str(session), "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == [
            "agreement.png",
            "edits.png",
            "index.html",
            "pace.png",
        ]
        text = (out / "index.html").read_text(encoding="utf-8")
        assert NOTE not in text and "<i>" not in text
        assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;" in text
        assert "pb&lt;i&gt;" in text
        assert "wrote" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (None, "s.sqlite: file not found"),
            (b"", "s.sqlite: empty file (not a session)"),
            (b"hello, not a database" * 10, "s.sqlite: not a PneumoView session file"),
        ],
    )
    def test_a_bad_session_is_one_line(
        self, tmp_path: Path, capsys, content: bytes | None, reason: str
    ) -> None:
        path = tmp_path / "s.sqlite"
        if content is not None:
            path.write_bytes(content)
        assert main(["report", str(path), "--out", str(tmp_path / "r")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"pneumoview report: error: {reason}")
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert not (tmp_path / "r").exists()

    def test_a_bad_version_file_is_a_warning(self, session: Path, tmp_path: Path, capsys) -> None:
        folder = session.with_name("s.sqlite.models")
        folder.mkdir()
        (folder / "v1.json").write_bytes(b"\xff\xfe")
        assert main(["report", str(session), "--out", str(tmp_path / "r")]) == 0
        err = capsys.readouterr().err
        assert "pneumoview report: warning: v1.json: not UTF-8 text" in err
        assert "v1.json: not UTF-8 text" in (tmp_path / "r" / "index.html").read_text()


def _chromium_dom(page: Path, tmp_path: Path) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)"
)
class TestInChromium:
    def test_the_page_renders_its_plots_load_and_the_note_does_not_run(
        self, session: Path, tmp_path: Path
    ) -> None:
        folder = session.with_name("s.sqlite.models")
        folder.mkdir()
        (folder / "base-v1.json").write_text(
            '{"metrics": {"before": {"rsna_map": 0.1}, "after": {"rsna_map": 0.3}}}'
        )
        out = tmp_path / "report"
        assert main(["report", str(session), "--out", str(out)]) == 0
        page = (out / "index.html").read_text(encoding="utf-8")
        # A copy with a probe: the page itself forbids every script (its CSP), so the probe
        # goes into a copy without that line; the note's <script> would run there if unescaped.
        probe = (
            "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
            " document.title = 'loaded ' + imgs.filter(i => i.complete && i.naturalWidth > 0)"
            ".length + ' of ' + imgs.length; });</script>"
        )
        stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
        assert stripped != page
        probed = out / "probe.html"
        probed.write_text(stripped.replace("</body>", probe + "</body>"), encoding="utf-8")
        dom = _chromium_dom(probed, tmp_path)
        assert "<title>loaded 4 of 4</title>" in dom
        assert not re.search(r"<body[^>]*data-pwned", dom)
        assert "&lt;script&gt;document.body.setAttribute" in dom  # shown as text
        assert "Reader vs model vs original labels" in dom
        # The page as written renders too (and its CSP keeps any script from running).
        dom = _chromium_dom(out / "index.html", tmp_path)
        assert "<title>Reading report: s.sqlite</title>" in dom
        assert "<h2>Model versions</h2>" in dom
