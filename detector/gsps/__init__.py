"""Grayscale Softcopy Presentation States (PS3.3 A.33.1): read one into a plain model, write one.

:mod:`detector.gsps.model` holds the plain values, :mod:`detector.gsps.read` parses a GSPS as
untrusted input (:class:`detector.gsps.read.GspsError`, one line), :mod:`detector.gsps.geometry`
maps DISPLAY units and the spatial transformation to image pixels, and
:mod:`detector.gsps.write` writes the reviewed boxes of one image as a GSPS with highdicom.
"""
