"""The report's plots as PNG bytes (matplotlib's Agg backend: no display, no Qt).

Each function returns PNG bytes, or ``None`` when the session has nothing to plot (the page
says so in words instead).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from detector.report.figures import ReportNumbers
from detector.report.versions import KNOWN_METRICS, ModelVersion

#: Figure size (inches) and resolution: about 800 x 320 pixels per plot.
SIZE = (8.0, 3.2)
DPI = 100


def _figure(ncols: int = 1) -> tuple[Any, Any]:
    # Agg explicitly: a plot made from a worker thread of the window must not touch Qt.
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def pace_png(numbers: ReportNumbers) -> bytes | None:
    """Images per hour (by hour of the session) and seconds per image, over the session."""
    if not numbers.pace:
        return None
    fig, (left, right) = _figure(2)
    hours = [h for h, _s in numbers.pace]
    seconds = [s for _h, s in numbers.pace]
    bins = int(max(hours)) + 1
    per_hour = [0] * bins
    for h in hours:
        per_hour[min(int(h), bins - 1)] += 1
    left.bar(range(bins), per_hour, width=0.9, color="#4c72b0")
    left.set_xticks(range(bins), [f"{i}\u2013{i + 1} h" for i in range(bins)])
    left.set_xlabel("hour of the session")
    left.set_ylabel("images finished")
    left.set_title("Images per hour")
    right.plot(range(1, len(seconds) + 1), seconds, "o-", color="#dd8452", markersize=3)
    if numbers.speed is not None:
        right.axhline(numbers.speed.median_seconds, color="#555555", linestyle="--", label="median")
        right.legend(loc="upper right")
    right.set_xlabel("finished image (in order)")
    right.set_ylabel("seconds on screen")
    right.set_title("Seconds per image")
    return _png(fig)


def edits_png(numbers: ReportNumbers) -> bytes | None:
    """How many boxes were changed 0, 1, 2... times."""
    if not numbers.edits_per_box:
        return None
    fig, ax = _figure()
    edits = sorted(numbers.edits_per_box)
    ax.bar(range(len(edits)), [numbers.edits_per_box[e] for e in edits], color="#55a868")
    ax.set_xticks(range(len(edits)), [str(e) for e in edits])
    ax.set_xlabel("edits of the box by the reader")
    ax.set_ylabel("boxes")
    ax.set_title("Edits per box (boxes of finished images)")
    return _png(fig)


def agreement_png(numbers: ReportNumbers) -> bytes | None:
    """The RSNA metric and the per-image agreement of each pair of label sets."""
    pairs = numbers.pairs
    if not pairs or not numbers.rows:
        return None
    fig, ax = _figure()
    names = [f"{p} vs {t}" for t, p in pairs]
    width = 0.38
    xs = list(range(len(pairs)))
    rsna = [numbers.overall.get(p) or 0.0 for p in pairs]
    agree = [numbers.agreement.get(p) or 0.0 for p in pairs]
    ax.bar([x - width / 2 for x in xs], rsna, width, label="RSNA metric", color="#4c72b0")
    ax.bar([x + width / 2 for x in xs], agree, width, label="images agreeing", color="#c44e52")
    ax.set_xticks(xs, names)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    ax.set_title("Reader vs model vs original labels")
    return _png(fig)


def versions_png(versions: Sequence[ModelVersion]) -> bytes | None:
    """The first common metric of each version, before and after improving."""
    metric = next(
        (m for m in KNOWN_METRICS if any(m in v.after or m in v.before for v in versions)), None
    )
    if metric is None:
        return None
    fig, ax = _figure()
    xs = list(range(len(versions)))
    width = 0.38
    before = [v.before.get(metric, 0.0) for v in versions]
    after = [v.after.get(metric, 0.0) for v in versions]
    ax.bar([x - width / 2 for x in xs], before, width, label="before (parent)", color="#8c8c8c")
    ax.bar([x + width / 2 for x in xs], after, width, label="after", color="#4c72b0")
    ax.set_xticks(xs, [v.name.replace("$", r"\$") for v in versions])  # no mathtext
    ax.set_ylabel(metric)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"Model versions: {metric} on the held-out reviewed images")
    return _png(fig)
