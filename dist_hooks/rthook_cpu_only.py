"""PyInstaller runtime hook of the CPU variant (``make dist VARIANT=cpu``).

That build leaves out the CUDA libraries torch loads only when it runs on a GPU (cuDNN's
engines, cuSOLVER): hide every GPU, so the detector's ``device="auto"`` picks the CPU instead
of failing on the first convolution on a machine that has one.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
