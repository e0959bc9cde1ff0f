"""The Qt binding keeps Python's singletons alive (PySide6 6.12.0 on Python 3.11 does not).

PySide6 6.12.0 drops a reference to ``None`` on every void C++ call and to ``True``/``False`` on
every ``Signal.emit``; a long session then aborts in ``none_dealloc``/``bool_dealloc``. The
project pins a release without the bug (``constraints.txt``) and excludes 6.12.0
(``pyproject.toml``); this test fails on a leaking release, so an upgrade back is caught.
"""

from __future__ import annotations

import subprocess
import sys

CALLS = 100_000

# In a child process: on a leaking binding the interpreter aborts, which must fail this test
# rather than kill pytest.
SCRIPT = f"""
import sys
from PySide6 import QtCore

class Emitter(QtCore.QObject):
    fired = QtCore.Signal(bool)

app = QtCore.QCoreApplication([])
obj = QtCore.QObject()
emitter = Emitter()
emitter.fired.connect(lambda value: None)
none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range({CALLS}):
    obj.setObjectName("x")  # a void C++ method: returns None
    emitter.fired.emit(True)
print(sys.getrefcount(None) - none_before, sys.getrefcount(True) - true_before)
"""


def test_void_calls_and_emits_keep_none_and_true_alive() -> None:
    """100,000 void calls and signal emits change the refcounts of None and True by ~0."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"binding aborted the interpreter:\n{proc.stderr[-2000:]}"
    none_delta, true_delta = (int(v) for v in proc.stdout.split())
    # A leaking binding loses one reference per call: -100,000 (or aborts first).
    assert abs(none_delta) < 1000, none_delta
    assert abs(true_delta) < 1000, true_delta
