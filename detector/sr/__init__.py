"""Findings as DICOM Structured Reports (TID 1500 Measurement Report), written and read back.

``codes`` names every coded concept used; ``write`` builds one ``Comprehensive3DSR`` per image
(one planar-ROI measurement group per box); ``read`` turns an untrusted SR file back into boxes.
Qt-free; highdicom does the IOD work.
"""
