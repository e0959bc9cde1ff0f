"""The reading report: one HTML page with PNG plots about a review session (no Qt).

- :mod:`~detector.report.versions` reads the improved models' JSON files next to the session
  (``<session>.models/*.json``), untrusted, each problem one line;
- :mod:`~detector.report.figures` computes the numbers: pace, edits per box, the reader's
  labels against the model's and the original ground truth;
- :mod:`~detector.report.plots` draws them (matplotlib, Agg);
- :mod:`~detector.report.page` writes ``index.html`` (every text from the session escaped);
- :func:`detector.report.page.write_report` is what ``pneumoview report`` and Review → Report
  call.
"""
