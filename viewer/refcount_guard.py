"""Keep ``None``, ``True`` and ``False`` alive under a Qt binding that drops references to them.

PySide6 6.12.0 hands back ``None`` from every void C++ method (``setText``, ``setData``,
``clear``, ``insertChild``...) and ``True`` from ``Signal.emit`` without giving the caller a
reference. Python 3.12 and later make these singletons immortal (PEP 683), so nothing happens
there; on Python 3.10 and 3.11 every such call takes one count away. Opening and closing a large
folder makes tens of thousands of calls, and the count reaches zero: "Fatal Python error:
none_dealloc" or "bool_dealloc" (SIGABRT), in ``StudyBrowser.clear_all`` or at exit.

:func:`guard_singleton_refcounts` checks whether the installed binding drops references and, only
then, gives each of the three singletons 2**40 extra references, which is what Python 3.12 does
for every interpreter. PySide6 6.11.3 on Python 3.11 does not drop references; neither problem
exists on Python 3.12+.
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

#: References added to each singleton: far more than any session can drop (one per Qt call).
EXTRA_REFERENCES = 2**40
_PROBE_CALLS = 64
_guarded = False


def binding_drops_references() -> bool:
    """True when PySide6's void methods or ``Signal.emit`` take references from None/True."""
    from PySide6 import QtCore

    obj = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        obj.setObjectName("")
    lost_none = before - sys.getrefcount(None)
    before = sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        obj.objectNameChanged.emit("")
    lost_true = before - sys.getrefcount(True)
    # Other threads may move the counts a little; a leaking binding loses one per call.
    return max(lost_none, lost_true) >= _PROBE_CALLS // 2


def _can_patch() -> bool:
    """CPython before 3.12 (counted singletons), release build (ob_refcnt is the first field)."""
    return (
        sys.implementation.name == "cpython"
        and sys.version_info < (3, 12)
        and not hasattr(sys, "gettotalrefcount")
    )


def guard_singleton_refcounts() -> bool:
    """Protect None/True/False when the binding drops references to them (once per process).

    Call it before the QApplication is created. Returns True when the protection is in place.
    """
    global _guarded
    if _guarded:
        return True
    if not _can_patch() or not binding_drops_references():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += EXTRA_REFERENCES
    _guarded = True
    logger.debug(
        "this PySide6 drops references to None/True on Python %d.%d: singletons protected",
        *sys.version_info[:2],
    )
    return True
