"""Fuzz: labels and prediction CSV rows (random text, numbers incl. nan/inf, huge).

``read_labels`` and ``read_predictions`` must end in a result or a one-line
:class:`~detector.rsna.labels.LabelsError`, never another exception; bad rows are reported as
problems, not raised.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from detector.rsna.labels import LabelsError, read_labels, read_predictions
from tests.fuzz.memory import rss_cap

_NUMBER_TEXT = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e308", "1e999", "0x10", "1,5", " 3 "]),
)
#: Any text a cell may hold: separators, quotes, formula starts, control characters, non-ASCII.
_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['=HYPERLINK("x")', "+1", "-", "@a", '"', ",", "\t", "\r", "\x00", "caf\u00e9", ""]
)
_CELL = _NUMBER_TEXT | _TEXT
_LABEL_COLUMNS = ["patientId", "x", "y", "width", "height", "Target"]


@st.composite
def labels_csv(draw: st.DrawFn) -> bytes:
    """A labels-like CSV: the usual header (sometimes shuffled, cut or extended) and rows."""
    columns = list(_LABEL_COLUMNS)
    if draw(st.booleans()):
        columns.append(draw(st.sampled_from(["score", "extra", "PredictionString", ""])))
    if draw(st.integers(0, 4)) == 0:
        columns = draw(st.permutations(columns))
    if draw(st.integers(0, 4)) == 0:
        columns = columns[: draw(st.integers(0, len(columns)))]
    rows = [",".join(columns)]
    for _ in range(draw(st.integers(0, 12))):
        cells = [draw(_CELL) for _ in range(draw(st.integers(0, len(columns) + 2)))]
        if draw(st.booleans()) and len(cells) >= 6:
            cells[5] = draw(st.sampled_from(["0", "1", "2", "", "1.0"]))
        rows.append(",".join(cells))
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(rows)
    encoded = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        encoded = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00"])) + encoded
    return encoded


@st.composite
def submission_csv(draw: st.DrawFn) -> bytes:
    """A submission-like CSV: ``patientId,PredictionString`` with random score/box groups."""
    rows = ["patientId,PredictionString"]
    for _ in range(draw(st.integers(0, 8))):
        groups = [draw(_NUMBER_TEXT) for _ in range(draw(st.integers(0, 11)))]
        rows.append(f"{draw(_TEXT).replace(',', '')},{' '.join(groups)}")
    return "\n".join(rows).encode("utf-8", "surrogatepass")


def _check(read, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp, rss_cap():
        path = Path(tmp) / "rows.csv"
        path.write_bytes(data)
        try:
            read(path)
        except LabelsError as err:
            assert "\n" not in str(err) and str(err).startswith("rows.csv: "), str(err)
            event("refused")
        else:
            event("read")


@given(labels_csv())
def test_random_labels_rows_read_or_refuse_in_one_line(data):
    """``read_labels``: a result (bad rows as problems) or one line naming the file."""
    _check(read_labels, data)


@given(labels_csv() | submission_csv())
def test_random_prediction_rows_read_or_refuse_in_one_line(data):
    """``read_predictions``: either format, a result or one line naming the file."""
    _check(read_predictions, data)
