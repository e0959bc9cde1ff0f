"""Draw the PneumoView app icon (two lung shapes with a box) into PNG, ICO and ICNS.

Run once from the repository root: ``python resources/icons/make_icon.py``; the outputs are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 512


def draw_icon(size: int = SIZE) -> Image.Image:
    """The icon at ``size`` px: dark rounded square, two grey lungs, an orange detection box."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size / 512
    d.rounded_rectangle((16 * s, 16 * s, 496 * s, 496 * s), radius=96 * s, fill=(24, 32, 44, 255))
    lung = (200, 208, 216, 255)
    d.ellipse((92 * s, 110 * s, 238 * s, 420 * s), fill=lung)
    d.ellipse((274 * s, 110 * s, 420 * s, 420 * s), fill=lung)
    d.rectangle((244 * s, 80 * s, 268 * s, 300 * s), fill=(150, 160, 170, 255))
    d.rectangle((290 * s, 250 * s, 400 * s, 370 * s), outline=(255, 140, 0, 255), width=int(14 * s))
    return img


def main() -> None:
    img = draw_icon()
    img.save(HERE / "pneumoview.png")
    img.save(
        HERE / "pneumoview.ico",
        sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)],
    )
    img.save(HERE / "pneumoview.icns")


if __name__ == "__main__":
    main()
