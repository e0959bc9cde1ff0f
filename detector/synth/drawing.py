"""Draw one synthetic frontal chest radiograph (:func:`make_phantom`).

The phantom is built in "density" units (bright = dense) on the pixel grid, fully vectorised:
soft-tissue torso and neck, two lung fields with domed hemidiaphragms and costophrenic angles,
posterior and anterior ribs, clavicles, spine, mediastinum, heart and aortic knob, a gastric
bubble, lung vessel texture and quantum-like noise. Positive images get 1-4 diffuse, mottled
opacities inside the lungs; their boxes are the bounding boxes, in pixels of the image, of the
part of each opacity that is at least half as dense as its peak and inside a lung.
Some negative images are "No Lung Opacity / Not Normal" (enlarged heart, a line or tube, small
calcified nodules) so a detector learns that not every abnormality is an opacity.
:mod:`detector.synth.phantoms` writes such images as a folder of DICOM files with labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: ``(x, y, width, height)`` in pixels.
Box = tuple[int, int, int, int]


@dataclass
class Phantom:
    """One generated image before it is written.

    Attributes
    ----------
    pixels : ndarray
        uint8 ``(size, size)``, MONOCHROME2 (bright = dense).
    boxes : list of Box
    klass : str
        ``"Normal"``, ``"No Lung Opacity / Not Normal"`` or ``"Lung Opacity"``.
    view : str
        ``"PA"`` or ``"AP"``.
    sex : str
    age : int
    """

    pixels: np.ndarray
    boxes: list[Box]
    klass: str
    view: str
    sex: str
    age: int


# ---------------------------------------------------------------------------------------------
# Building blocks (all work on float32 grids of normalised coordinates)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |x|.
    return (0.5 + 0.5 * np.tanh(0.5 * x)).astype(np.float32, copy=False)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish variance noise smooth on a scale of ``size / cells`` pixels."""
    from PIL import Image

    coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _fractal_noise(
    rng: np.random.Generator, size: int, octaves: tuple[int, ...], falloff: float = 0.6
) -> np.ndarray:
    out = np.zeros((size, size), dtype=np.float32)
    weight, total = 1.0, 0.0
    for cells in octaves:
        out += weight * _smooth_noise(rng, size, min(cells, size // 2))
        total += weight
        weight *= falloff
    return out / total


def _band(distance: np.ndarray, half_width: float) -> np.ndarray:
    """1 inside ``|distance| < half_width`` with soft (about one-pixel-scale) edges."""
    return _sigmoid((half_width - np.abs(distance)) / (half_width * 0.25 + 1e-6))


@dataclass
class _Lung:
    mask: np.ndarray  # soft 0..1
    depth: np.ndarray  # 0..1, deeper inside the lung
    cx: float
    top: float
    base: float
    half_width: float


def _lung(x: np.ndarray, y: np.ndarray, side: int, rng: np.random.Generator, edge: float) -> _Lung:
    """One lung field; ``side`` -1 = image left (patient right), +1 = image right."""
    cx = 0.5 + side * rng.uniform(0.175, 0.205)
    top = rng.uniform(0.09, 0.14)
    base = rng.uniform(0.66, 0.73) + (0.015 if side > 0 else 0.0)
    a = rng.uniform(0.135, 0.16) * (0.93 if side > 0 else 1.0)
    t = (y - top) / (base - top)
    tc = np.clip(t / 0.42, 0.0, 1.0)
    # Rounded apex (quarter circle), slightly bulging lateral wall.
    w = a * np.sqrt(1.0 - (1.0 - tc) ** 2) * (1.0 + 0.08 * np.sin(np.pi * np.clip(t, 0, 1)))
    centre = cx + side * 0.025 * np.clip(t, 0, 1)
    lateral = w - np.abs(x - centre)
    dome = rng.uniform(0.04, 0.07)
    rel = (x - cx) / (a * 1.15)
    bottom = base - dome * np.clip(1.0 - rel**2, 0.0, 1.0) + 0.03 * np.clip(side * rel, 0, 1)
    below = bottom - y
    above = y - top
    signed = np.minimum(np.minimum(lateral, below), above)
    mask = _sigmoid(signed / edge)
    depth = np.sqrt(np.clip(signed / 0.06, 0.0, 1.0))
    return _Lung(mask, depth.astype(np.float32), cx, top, base, a)


def _ribs(u: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, posterior: bool) -> np.ndarray:
    """A rib cage drawn with one warped phase field (no loop over ribs)."""
    y0 = rng.uniform(0.07, 0.1) if posterior else rng.uniform(0.13, 0.17)
    length = rng.uniform(0.62, 0.7)
    s = u / 0.42
    if posterior:
        # From the spine the posterior ribs run laterally and slightly up, then curve down.
        curve = 0.3 * s**2.5 - 0.07 * s
    else:
        # Anterior ribs descend from the lateral wall towards the sternum.
        curve = 0.16 * (1.0 - s) ** 2 - 0.02
    rel = np.clip((y - y0 - curve) / length, 0.0, None)
    phase = 10.0 * rel**0.85 + 0.12 * _smooth_noise(rng, u.shape[0], 4)
    frac = phase - np.floor(phase)
    wf = 0.42 if posterior else 0.3
    tri = np.clip(1.0 - np.abs(2.0 * frac / wf - 1.0), 0.0, 1.0)
    profile = tri**0.35 * (0.75 + 0.25 * (1.0 - tri))  # brighter cortical edges
    inside = (phase > 0.0) & (phase < 10.0)
    lateral_fade = _sigmoid((0.43 - u) / 0.01) * _sigmoid((u - 0.035) / 0.006)
    return (profile * inside * lateral_fade).astype(np.float32)


def _vessels(rng: np.random.Generator, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Vessel-like lines radiating from a hilum at ``(0, 0)``, fading towards the periphery.

    The zero crossings of smooth noise drawn in polar coordinates, stretched along the radius,
    give thin wandering lines that branch and run outwards.
    """
    from scipy.ndimage import map_coordinates

    n_theta, n_r = 36, 12
    grid = rng.standard_normal((n_theta + 3, n_r + 3)).astype(np.float32)
    grid[-3:] = grid[:3]  # wrap around in angle
    r = np.sqrt(dx * dx + dy * dy)
    theta = (np.arctan2(dy, dx) + np.pi) / (2.0 * np.pi) * n_theta
    field = map_coordinates(grid, [theta.ravel(), (r / 0.45 * n_r).ravel()], order=3)
    field = field.reshape(dx.shape).astype(np.float32)
    # Lines are thicker near the hilum and thin out towards the periphery.
    width = 0.12 + 0.35 * np.exp(-r / 0.08)
    lines = np.exp(-((field / width) ** 2))
    return (lines * np.exp(-r / 0.17) * (1.0 - np.exp(-r / 0.04))).astype(np.float32)


def _ellipse_r2(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float, angle: float = 0.0
) -> np.ndarray:
    """Squared normalised radius of a rotated ellipse (1 on its border)."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    xr = (c * dx + s * dy) / ax
    yr = (-s * dx + c * dy) / ay
    return xr * xr + yr * yr


def _box_of(mask: np.ndarray) -> Box | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    return (x0, y0, x1 - x0, y1 - y0)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller else 0.0


# ---------------------------------------------------------------------------------------------
# One phantom


def make_phantom(
    rng: np.random.Generator, size: int, *, positive: bool, abnormal: bool = False
) -> Phantom:
    """Draw one phantom chest radiograph.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (the result is a pure function of its state).
    size : int
        Rows and columns of the image (>= 32).
    positive : bool
        Add 1-4 lung opacities with boxes.
    abnormal : bool
        For negatives: add a non-opacity finding (class "No Lung Opacity / Not Normal").

    Returns
    -------
    Phantom
        ``pixels`` uint8 ``(size, size)`` in [0, 255]; ``boxes`` in pixels.
    """
    if size < 32:
        raise ValueError(f"phantom size must be >= 32 pixels, not {size}")
    view = "AP" if rng.random() < (0.6 if positive else 0.35) else "PA"
    sex = "F" if rng.random() < 0.45 else "M"
    age = int(np.clip(rng.normal(48, 17), 2, 92))

    # Pixel-centre coordinates in [0, 1], then a small random pose (scale, shift, rotation).
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    gx, gy = np.meshgrid(coords, coords)
    scale = rng.uniform(0.93, 1.05)
    angle = math.radians(rng.uniform(-3.0, 3.0))
    shift_x, shift_y = rng.uniform(-0.03, 0.03), rng.uniform(-0.035, 0.02)
    c, s = math.cos(angle), math.sin(angle)
    px, py = gx - 0.5 - shift_x, gy - 0.5 - shift_y
    x = ((c * px + s * py) / scale + 0.5).astype(np.float32)
    y = ((-s * px + c * py) / scale + 0.5).astype(np.float32)
    dx = x - 0.5
    u = np.abs(dx)
    edge = 1.5 / size + 0.002

    # Soft-tissue torso (squarish shoulders) plus neck; thicker in the middle.
    bw = rng.uniform(0.44, 0.49)
    # Shoulders slope down laterally; arms hang beside the chest wall.
    torso_r = (u / bw) ** 4 + ((y - 0.12 * (u / bw) ** 3 - 0.66) / 0.6) ** 4
    torso = _sigmoid((1.0 - torso_r) / 0.03)
    neck = _sigmoid((0.085 - u) / 0.01) * _sigmoid((0.25 - y) / 0.02)
    arm_x = bw + rng.uniform(0.03, 0.06)
    arms = _band(u - arm_x, 0.04) * _sigmoid((rng.uniform(0.45, 0.65) - y) / 0.03)
    arms *= _sigmoid((y - 0.06 - 0.1 * np.clip(u - bw, 0, None) / 0.05) / 0.02)
    body = np.maximum(np.maximum(torso, neck), 0.8 * arms)
    thickness = np.sqrt(np.clip(1.0 - (dx / bw) ** 2, 0.0, 1.0))
    density = body * (0.42 + 0.38 * thickness + 0.06 * np.clip(y - 0.7, 0, None) / 0.3)

    # Lungs (air lowers the density, more so deep inside).
    right = _lung(x, y, -1, rng, edge)
    left = _lung(x, y, +1, rng, edge)
    lungs = np.maximum(right.mask, left.mask)
    depth = np.maximum(right.depth * right.mask, left.depth * left.mask)

    # Lung texture: vessels radiating from the hila plus fine parenchymal noise.
    texture = _fractal_noise(rng, size, (6, 14, 32, 64))
    for lung, side in ((right, -1), (left, +1)):
        hx, hy = lung.cx - side * 0.07, lung.top + 0.42 * (lung.base - lung.top)
        density += 0.07 * lung.mask * _vessels(rng, x - hx, y - hy)
    density += 0.03 * lungs * texture

    # Mediastinum, spine with vertebrae, heart and aortic knob.
    cardio = rng.uniform(1.0, 1.12) * (1.12 if view == "AP" else 1.0)
    if abnormal and rng.random() < 0.5:
        cardio *= rng.uniform(1.25, 1.4)  # cardiomegaly
    med_half = 0.055 + 0.015 * np.clip(y, 0, 1)
    mediastinum = _sigmoid((med_half - np.abs(dx - 0.005)) / 0.012) * _sigmoid(y / 0.02)
    density += 0.04 * mediastinum
    spine = _sigmoid((0.032 - u) / 0.004)
    vertebrae = 0.6 + 0.4 * np.cos(np.pi * y / rng.uniform(0.042, 0.05)) ** 2
    density += 0.06 * spine * vertebrae
    base = 0.5 * (right.base + left.base)
    heart_r2 = _ellipse_r2(
        x,
        y,
        0.5 + rng.uniform(0.05, 0.08),
        base - 0.12 * cardio,
        rng.uniform(0.13, 0.155) * cardio,
        rng.uniform(0.095, 0.115) * cardio,
        math.radians(rng.uniform(-28, -15)),
    )
    heart = _sigmoid((1.0 - heart_r2) / 0.12)
    knob_r2 = _ellipse_r2(x, y, 0.5 + rng.uniform(0.04, 0.06), rng.uniform(0.28, 0.32), 0.035, 0.03)
    knob = _sigmoid((1.0 - knob_r2) / 0.15)
    # Heart, aorta and mediastinum lie in front of/between the lungs: less air in the beam.
    air = rng.uniform(0.34, 0.42) * (1.0 - 0.8 * np.maximum(heart, knob)) * (1.0 - mediastinum)
    density -= air * lungs * (0.55 + 0.45 * depth)
    density += 0.05 * heart

    # Bones: ribs over the lungs, clavicles.
    # Ribs show best against the air of the lungs; below the diaphragm they fade out.
    rib_weight = body * (0.3 + 0.7 * lungs * (1.0 - 0.6 * heart))
    rib_weight *= _sigmoid((base + 0.06 - y) / 0.02)
    density += 0.085 * _ribs(u, y, rng, posterior=True) * rib_weight
    density += 0.035 * _ribs(u, y, rng, posterior=False) * rib_weight
    # Humerus in each arm.
    density += 0.1 * _band(u - arm_x, 0.018) * arms
    cl_y = rng.uniform(0.12, 0.16)
    cl_curve = cl_y - 0.07 * (u / 0.3) + 0.025 * np.sin(np.pi * np.clip(u / 0.3, 0, 1))
    clavicle = (
        _band(y - cl_curve, 0.011) * _sigmoid((u - 0.04) / 0.005) * _sigmoid((0.33 - u) / 0.01)
    )
    density += 0.13 * clavicle

    # Gastric bubble under the left hemidiaphragm (image right).
    if rng.random() < 0.7:
        bubble_r2 = _ellipse_r2(
            x, y, 0.5 + rng.uniform(0.13, 0.2), left.base + rng.uniform(0.03, 0.06), 0.05, 0.025
        )
        density -= 0.12 * _sigmoid((1.0 - bubble_r2) / 0.15) * body

    # Findings that are not lung opacities (also sometimes on other images: lines, ECG leads).
    if (abnormal and rng.random() < 0.6) or rng.random() < 0.12:
        # A line or tube running down near the midline.
        x_line = 0.5 + rng.uniform(-0.08, 0.08) + 0.05 * np.sin(y * rng.uniform(3, 6))
        line = _band(x - x_line, 0.004) * _sigmoid((y - 0.02) / 0.01)
        line *= _sigmoid((rng.uniform(0.45, 0.75) - y) / 0.01)
        density += 0.25 * line
    if abnormal and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            lung = right if rng.random() < 0.5 else left
            nx = lung.cx + rng.uniform(-0.5, 0.5) * lung.half_width
            ny = lung.top + rng.uniform(0.3, 0.85) * (lung.base - lung.top)
            dot = _ellipse_r2(x, y, nx, ny, 0.008, 0.008)
            density += 0.25 * _sigmoid((1.0 - dot) / 0.2)
    if view == "AP" and rng.random() < 0.5:
        for _ in range(int(rng.integers(2, 5))):
            ex, ey = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.8)
            ring = _ellipse_r2(x, y, ex, ey, 0.012, 0.012)
            density += 0.4 * _band(np.sqrt(ring) - 1.0, 0.25)

    # Lung opacities (pneumonia-like): irregular, mottled, confined to the lungs.
    boxes: list[Box] = []
    if positive:
        wanted = int(rng.choice([1, 2, 3, 4], p=[0.42, 0.46, 0.09, 0.03]))
        tries = 0
        while len(boxes) < wanted and tries < 12 * wanted:
            tries += 1
            lung = right if rng.random() < 0.5 else left
            ox = lung.cx + rng.uniform(-0.45, 0.45) * lung.half_width
            oy = lung.top + rng.uniform(0.35, 0.88) * (lung.base - lung.top)
            ax, ay = rng.uniform(0.05, 0.1), rng.uniform(0.07, 0.14)
            r2 = _ellipse_r2(x, y, ox, oy, ax, ay, math.radians(rng.uniform(-20, 20)))
            irregular = r2 * (1.0 + 0.45 * _smooth_noise(rng, size, 10))
            blob = _sigmoid((1.0 - irregular) / 0.25) * lung.mask
            box = _box_of(blob > 0.5)
            if box is None or box[2] < max(4, size // 64) or box[3] < max(4, size // 64):
                continue
            if any(_overlap(box, b) > 0.15 for b in boxes):
                continue
            mottle = 0.85 + 0.2 * _fractal_noise(rng, size, (24, 64))
            density += rng.uniform(0.17, 0.27) * blob * mottle
            boxes.append(box)
        if not boxes:  # pragma: no cover - the first tries virtually always succeed
            raise RuntimeError("could not place an opacity")

    # Exposure: density -> brightness with per-image contrast and gamma, then noise.
    lo = rng.uniform(-0.05, 0.05)
    hi = rng.uniform(0.95, 1.1)
    level = np.clip((density - lo) / (hi - lo), 0.0, 1.0) ** rng.uniform(0.85, 1.2)
    level += rng.uniform(0.008, 0.018) * rng.standard_normal((size, size), dtype=np.float32)
    level += 0.01 * _smooth_noise(rng, size, max(2, size // 6))
    pixels = np.clip(np.rint(level * 255.0), 0, 255).astype(np.uint8)

    if positive:
        klass = "Lung Opacity"
    elif abnormal:
        klass = "No Lung Opacity / Not Normal"
    else:
        klass = "Normal"
    return Phantom(pixels, boxes, klass, view, sex, age)
