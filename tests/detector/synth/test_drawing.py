"""Drawing one phantom radiograph: opacities, negatives, chest-like anatomy."""

from __future__ import annotations

import numpy as np

from detector.synth.drawing import make_phantom


class TestMakePhantom:
    def test_opacity_brightens_its_box(self) -> None:
        """The box of an opacity is brighter than the same lung region in a negative twin."""
        size = 128
        positive = make_phantom(np.random.default_rng(4), size, positive=True)
        negative = make_phantom(np.random.default_rng(4), size, positive=False)
        # Same seed and view: the same anatomy; the opacities are drawn last.
        assert positive.view == negative.view
        x, y, w, h = positive.boxes[0]
        pos_mean = positive.pixels[y : y + h, x : x + w].astype(float).mean()
        neg_mean = negative.pixels[y : y + h, x : x + w].astype(float).mean()
        assert pos_mean > neg_mean + 5

    def test_negative_has_no_boxes(self) -> None:
        """An image with no findings has no boxes and a non-opacity class."""
        phantom = make_phantom(np.random.default_rng(0), 64, positive=False)
        assert phantom.boxes == []
        assert phantom.klass == "Normal"
        assert phantom.pixels.dtype == np.uint8 and phantom.pixels.shape == (64, 64)

    def test_looks_like_a_chest(self) -> None:
        """Lungs are darker than the mediastinum and the air outside darker than both."""
        pixels = make_phantom(np.random.default_rng(1), 256, positive=False).pixels.astype(float)
        lung = pixels[90:140, 55:85].mean()
        mediastinum = pixels[90:140, 122:134].mean()
        outside = pixels[5:20, 0:6].mean()
        assert outside < lung < mediastinum
