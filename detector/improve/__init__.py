"""Improve the model from a review session (``pneumoview improve``, Detection → Improve model…).

:mod:`~detector.improve.reviewed` (the session's reviewed images and their final boxes, exactly
what ``export --format labels`` holds) → :mod:`~detector.improve.holdout` (patient-level,
deterministic) → :mod:`~detector.improve.job` (fine-tune with ``train --init``, score old and
new on the holdout, calibrate the new gate) → :mod:`~detector.improve.versions`
(``<session>.models/<base>-v<N>.pt`` + its lineage JSON). :mod:`~detector.improve.progress`
holds the cancel and the progress events.
"""
