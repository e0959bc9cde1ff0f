"""The coded concepts PneumoView's SRs use, in one place (the writer and the reader share them).

Finding type: DCM 112033 "Abnormal opacity" from CID 6101 "Chest Finding or Feature" (the
chest-radiograph finding list used by the Chest CAD SR), with finding site SCT 39607008 "Lung":
together "lung opacity", the RSNA class. A DCM/SCT code that pydicom and highdicom ship, so
every SR reader resolves it without a private dictionary (SNOMED's "opacity of lung" concept
is not in pydicom's tables).

Confidence: DCM 111012 "Certainty of Finding" (CID 6048), UCUM unit ``1`` (a score in [0, 1]).

Box source (model / reader / ground truth) has no standard concept; it is a qualitative
evaluation in a private coding scheme ``99PNV`` (PS3.16 8.2: a ``99`` prefix marks a local
scheme), so other readers show it as text and ignore it safely.
"""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

FINDING_TYPE = CodedConcept("112033", "DCM", "Abnormal opacity")
FINDING_SITE = codes.SCT.Lung
CONFIDENCE = CodedConcept("111012", "DCM", "Certainty of Finding")
CONFIDENCE_UNIT = CodedConcept("1", "UCUM", "no units")
PROCEDURE = CodedConcept("399208008", "SCT", "Plain chest X-ray")
NO_FINDINGS = CodedConcept("111286", "DCM", "No abnormality")
FINDING = codes.DCM.Finding

PRIVATE_SCHEME = "99PNV"
BOX_SOURCE = CodedConcept("BOXSRC", PRIVATE_SCHEME, "Box source")
#: Box source (as the review's ``ReviewBox.source`` spells it) -> its coded value.
SOURCES: dict[str, CodedConcept] = {
    "model": CodedConcept("MODEL", PRIVATE_SCHEME, "Model"),
    "reviewer": CodedConcept("READER", PRIVATE_SCHEME, "Reader"),
    "ground_truth": CodedConcept("GT", PRIVATE_SCHEME, "Ground truth"),
}
SOURCE_BY_VALUE: dict[str, str] = {c.value: name for name, c in SOURCES.items()}
