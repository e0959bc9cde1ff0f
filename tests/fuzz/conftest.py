"""Hypothesis profiles for the fuzz tests of untrusted input (issue 21, "Fuzzing in CI").

``ci`` (the default) is derandomized: every run tries the same examples, so CI is reproducible
and a failure found there is found again on a laptop. ``explore`` draws new random examples and
many more of them, for hunting by hand::

    HYPOTHESIS_PROFILE=explore python -m pytest tests/fuzz

Every example has a deadline, so a hang is reported as one (not a stuck CI job); the deadline
is wide because it guards against hangs, not slowness on a busy machine.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": 10_000,  # ms per example
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
