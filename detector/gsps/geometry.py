"""GSPS geometry: the spatial transformation and DISPLAY units mapped to image pixels.

PS3.3 C.10.6 (Table C.10-9): Image Rotation (clockwise) is applied first, then Image Horizontal
Flip, "after any Image Rotation has been applied"; DCMTK renders it so (checked against
``dcmpsprt`` by ``tests/detector/gsps/test_dcmtk_agreement.py``). PS3.3 C.10.4: the displayed area's corners name the image pixels (1-based ``column, row`` of the image
before the transformation) that are shown at the top-left and bottom-right corners after it.
PS3.3 C.10.5.1.2: a DISPLAY coordinate is a fraction of that displayed area *as shown*
(``0, 0`` its top-left, ``1, 1`` its bottom-right corner), so it is mapped back through the
transformation to an image pixel position.
"""

from __future__ import annotations

from collections.abc import Iterable

from detector.gsps.model import DisplayedArea, Point


def transform_point(point: Point, rotation: int, flip: bool) -> Point:
    """The linear part of the spatial transformation: rotate clockwise, then flip.

    Coordinates are relative (no origin); the y axis points down, as on screen.
    """
    x, y = point
    for _ in range((rotation // 90) % 4):
        x, y = -y, x  # a quarter turn clockwise with y pointing down
    if flip:
        x = -x
    return x, y


def untransform_point(point: Point, rotation: int, flip: bool) -> Point:
    """The inverse of :func:`transform_point`."""
    x, y = point
    if flip:
        x = -x
    for _ in range((rotation // 90) % 4):
        x, y = y, -x
    return x, y


def area_rect(
    area: DisplayedArea | None, shape: tuple[int, int]
) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` in image pixel coordinates of the displayed area (whole image: None).

    ``shape`` is ``(rows, columns)`` of the image (used when there is no area).
    """
    if area is None:
        return 0.0, 0.0, float(shape[1]), float(shape[0])
    (c1, r1), (c2, r2) = area.top_left, area.bottom_right
    return min(c1, c2) - 1.0, min(r1, r2) - 1.0, float(max(c1, c2)), float(max(r1, r2))


def display_to_pixels(
    points: Iterable[Point],
    rect: tuple[float, float, float, float],
    rotation: int,
    flip: bool,
) -> tuple[Point, ...]:
    """DISPLAY fractions -> image pixel positions, through the displayed area ``rect``.

    ``rect`` is :func:`area_rect`'s ``(x0, y0, x1, y1)``; ``rotation`` and ``flip`` are the
    state's spatial transformation.
    """
    x0, y0, x1, y1 = rect
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    corners = [
        transform_point((x - cx, y - cy), rotation, flip) for x in (x0, x1) for y in (y0, y1)
    ]
    sx0, sy0 = min(c[0] for c in corners), min(c[1] for c in corners)
    sx1, sy1 = max(c[0] for c in corners), max(c[1] for c in corners)
    out = []
    for u, v in points:
        screen = (sx0 + u * (sx1 - sx0), sy0 + v * (sy1 - sy0))
        dx, dy = untransform_point(screen, rotation, flip)
        out.append((dx + cx, dy + cy))
    return tuple(out)


def canvas_orientation(rotation: int, flip: bool) -> tuple[int, bool]:
    """The canvas's ``(quarter turns clockwise, horizontal flip)`` that show the state's view.

    The canvas rotates first and then flips in screen orientation, the standard's order, so
    the state's values are used as they are.
    """
    return (rotation // 90) % 4, flip
