"""Helpers shared by the benchmark scripts: test images, median timing, the machine line."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np


def chest_field(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Chest-like smooth structure plus fine noise, float32 in [0, 1].

    Scaled to 8 or 12 bits it compresses like a real CR with JPEG.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h
    xx /= w
    base = 0.6 + 0.25 * np.cos(6 * xx) * np.sin(4 * yy)
    for cx in (0.3, 0.7):
        base -= 0.3 * np.exp(-(((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.28) ** 2))
    base += rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(base, 0, 1)


def median_seconds(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line() -> str:
    """One line naming the OS, CPU, core count and Python version."""
    return (
        f"{platform.system()} {platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def print_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print a Markdown table (the form docs/PERFORMANCE.md takes its rows in)."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
