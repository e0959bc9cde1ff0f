"""A memory cap for fuzz tests: the process's peak RSS may not grow by more than a bound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: How much a fuzz test may raise the peak RSS of the test process (MiB). Examples are small
#: images (at most 64 x 64 x 3 frames); only a bomb or a runaway allocation comes near this.
RSS_CAP_MIB = 400


def peak_rss_mib() -> int | None:
    """This process's peak RSS (``VmHWM``) in MiB; ``None`` where /proc is not available."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


@contextmanager
def rss_cap(mib: int = RSS_CAP_MIB) -> Iterator[None]:
    """Fail when the block raises the process's peak RSS by more than ``mib`` MiB."""
    before = peak_rss_mib()
    yield
    after = peak_rss_mib()
    if before is not None and after is not None:
        assert after - before < mib, f"peak RSS grew by {after - before} MiB (cap {mib} MiB)"
