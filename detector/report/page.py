"""``index.html`` of the reading report: the numbers, the plots and the per-image table.

Every text that comes from the session or the version files (patientIds, notes, model and file
names) is HTML-escaped, and the page forbids scripts (a Content-Security-Policy), so a note
holding ``<script>`` is shown as text and never runs. The plots are PNG files beside the page.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import PneumoViewError
from detector.files.output import atomic_write_bytes, atomic_write_text, check_output_dir
from detector.report import plots
from detector.report.figures import ReportNumbers, report_numbers
from detector.report.versions import KNOWN_METRICS, ModelVersion, read_versions

#: The page's policy: no script of any origin, images from beside the page only.
CSP = "default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
td.num { text-align: right; }
img { display: block; margin: 0.5em 0 1.5em; max-width: 100%; }
.note { color: #555; }
"""


class ReportError(PneumoViewError):
    """The report cannot be written (a session or an output folder that cannot be used)."""


@dataclass
class Report:
    """What :func:`write_report` wrote: the page, and one line per problem it met."""

    page: Path
    problems: list[str] = field(default_factory=list)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pair(pair: tuple[str, str]) -> str:
    truth, pred = pair
    return f"{pred} vs {truth}"


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1, numeric_to: int = 99
) -> str:
    """A table of cells already escaped; columns ``numeric_from:numeric_to`` right-aligned."""
    out = ["<table><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (
            f'<td class="num">{c}</td>' if numeric_from <= i < numeric_to else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _img(name: str | None, alt: str, missing: str) -> str:
    if name is None:
        return f'<p class="note">{_e(missing)}</p>'
    return f'<img src="{_e(name)}" alt="{_e(alt)}">'


def _versions_html(versions: Sequence[ModelVersion], image: str | None, problems: list[str]) -> str:
    if not versions:
        text = "No improved model versions next to this session."
        return f'<p class="note">{_e(text)}</p>' + _problems_html(problems)
    metrics = [
        m for m in KNOWN_METRICS if any(m in v.before or m in v.after for v in versions)
    ] or sorted({m for v in versions for m in (*v.before, *v.after)})[:4]
    head = ["version", "parent", "date"]
    for m in metrics:
        head += [f"{m} before", f"{m} after"]
    rows = []
    for v in versions:
        row = [_e(v.name), _e(v.parent), _e(v.date)]
        for m in metrics:
            row += [_num(v.before.get(m)), _num(v.after.get(m))]
        rows.append(row)
    return (
        _table(head, rows, numeric_from=3)
        + _img(image, "model versions", "")
        + _problems_html(problems)
    )


def _problems_html(problems: Sequence[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f'<p class="note">Not read:</p><ul class="note">{items}</ul>'


def render_page(
    session_name: str,
    numbers: ReportNumbers,
    versions: Sequence[ModelVersion],
    images: dict[str, str | None],
    problems: Sequence[str] = (),
) -> str:
    """The HTML text of the report (``images``: plot -> PNG file name, or None)."""
    speed = numbers.speed
    pace = (
        f"{speed.images_per_hour:.0f} images/h, median {speed.median_seconds:.0f} s/image "
        f"({speed.images} finished images, {speed.seconds / 60:.1f} min on screen)"
        if speed is not None
        else "No finished image with time on screen yet."
    )
    pairs = numbers.pairs
    overall = _table(
        ["labels", "RSNA metric (overall)", "images agreeing (positive / negative)"],
        [
            [_e(_pair(p)), _num(numbers.overall.get(p)), _num(numbers.agreement.get(p))]
            for p in pairs
        ],
    )
    head = ["patientId", "status", "s", "reader", "model", "original"]
    head += [f"RSNA {_pair(p)}" for p in pairs] + ["note"]
    rows = []
    for r in numbers.rows:
        rows.append(
            [
                _e(r.patient_id),
                _e(r.status.replace("_", " ")),
                f"{r.seconds:.0f}",
                str(r.boxes["reader"]),
                str(r.boxes["model"]) if numbers.has_model else "–",
                str(r.boxes["original"]) if numbers.has_original else "–",
                *(_num(r.scores.get(p)) for p in pairs),
                f'<span class="note">{_e(r.note)}</span>',
            ]
        )
    model = (
        f"model {_e(numbers.model)} at threshold {numbers.threshold:.2f}"
        if numbers.has_model
        else "no model ran in this session"
    )
    original = "imported ground truth" if numbers.has_original else "no ground truth imported"
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    body = [
        f"<h1>Reading report: {_e(session_name)}</h1>",
        f'<p class="note">Written {_e(stamp)} by PneumoView. {numbers.finished} of '
        f"{numbers.images} images finished; {model}; {_e(original)}.</p>",
        "<h2>Pace</h2>",
        f"<p>{_e(pace)}</p>",
        _img(images.get("pace"), "images per hour and seconds per image", ""),
        "<h2>Edits per box</h2>",
        _img(images.get("edits"), "edits per box", "No box on a finished image."),
        "<h2>Reader vs model vs original labels</h2>",
        '<p class="note">Reader: the reviewed labels (one box per lesion, as the labels export). '
        "Model: its proposals at its threshold, in its own geometry. Original: the imported "
        "ground truth, removed boxes included. Scored on finished images; "
        "the first named set is scored against the second.</p>",
        overall,
        _img(images.get("agreement"), "reader vs model vs original", "No finished image yet."),
        "<h2>Model versions</h2>",
        _versions_html(versions, images.get("versions"), list(problems)),
        "<h2>Images</h2>",
        _table(head, rows, numeric_from=2, numeric_to=len(head) - 1),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>Reading report: {_e(session_name)}</title><style>{STYLE}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(
    session: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    progress: Callable[[str], object] | None = None,
) -> Report:
    """Read ``session`` (read-only, never changed) and write the report into ``out_dir``.

    Parameters
    ----------
    session : path
        A review session file written by the viewer (untrusted).
    out_dir : path
        Created if missing; ``index.html`` and ``*.png`` are written atomically into it.
    progress : callable, optional
        Receives a short line before each step.

    Returns
    -------
    Report
        The page written and one line per version file that could not be read.

    Raises
    ------
    PneumoViewError
        The session cannot be read (:class:`detector.review.SessionError`) or the folder
        cannot be written (:class:`detector.files.output.OutputError`): one line, nothing
        written into the folder.
    """
    from detector.review.store import open_session

    say = progress or (lambda _text: None)
    say("reading the session")
    state, store = open_session(session, create=False, read_only=True)
    try:
        log = store.read_log()
        problems = [f"{store.path.name}: {line}" for line in store.quarantined]
        folder = check_output_dir(out_dir)
    except sqlite3.Error as exc:
        raise ReportError(session, f"unreadable edit log ({exc})") from None
    finally:
        store.close()
    numbers = report_numbers(state, log)
    versions, version_problems = read_versions(session)
    problems += version_problems
    images: dict[str, str | None] = {}
    drawings = {
        "pace": lambda: plots.pace_png(numbers),
        "edits": lambda: plots.edits_png(numbers),
        "agreement": lambda: plots.agreement_png(numbers),
        "versions": lambda: plots.versions_png(versions),
    }
    for name, draw in drawings.items():
        say(f"drawing {name}")
        png = draw()
        if png is not None:
            atomic_write_bytes(folder / f"{name}.png", png)
        images[name] = f"{name}.png" if png is not None else None
    page = folder / "index.html"
    text = render_page(Path(session).name, numbers, versions, images, problems)
    atomic_write_text(page, text)
    return Report(page, problems)
