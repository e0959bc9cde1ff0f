"""The review core: annotations, undo/redo, the session file, CSV import and export (no Qt).

The GUI observes a :class:`ReviewState` through its psygnal ``events`` and changes it only
through its methods, as napari's ``_qt`` observes ``components``.

Public API
----------
Model (:mod:`detector.review.state`; the jobs in :mod:`~detector.review.core`,
:mod:`~detector.review.image_edits`, :mod:`~detector.review.box_edits`,
:mod:`~detector.review.model_runs`, :mod:`~detector.review.comparing`; values in
:mod:`~detector.review.records`)
    ``ReviewState(reviewer=None, writer=None, clock=time.time, history_size=500)``

    - images: ``add_image(key, patient_id, path=, sop_instance_uid=, frame=)``,
      ``add_images(identities)``, ``image(key)``, ``images``, ``keys_for_patient(pid)``,
      ``progress() -> (reviewed, total)``
    - queries: ``box(id)``, ``boxes(image=None, kind=, status=, active=, min_score=)``,
      ``counts(image, threshold=, iou_threshold=) -> ImageCounts`` (worklist: predictions,
      max_score, ground_truth, reviewer, disagreement), ``rsna_score(image, threshold=)``,
      ``compare(image, threshold=, iou_threshold=) -> Comparison`` (matched / missed /
      false-positive box ids and the image's RSNA score)
    - loads (not undo steps): ``add_model(ModelInfo)``, ``models``,
      ``set_predictions(image, origin, [(xyxy, score), ...])``,
      ``add_ground_truth(image, boxes, origin)``,
      ``import_ground_truth({key: boxes}, origin, pending={pid: boxes})``, ``pending_truth``,
      ``set_rsna_class(image, cls)``, ``set_rsna_classes({key: cls})``,
      ``add_seconds(image, seconds)``
    - edits (one undo step each): ``add_box(image, xyxy)``, ``accept(id)``,
      ``accept_all(image, threshold)``, ``reject(id)``, ``delete(id)``, ``move(id, xyxy)``
      (the final geometry of a drag), ``mark_reviewed(image)``, ``mark_no_opacity(image)``,
      ``set_image_status(image, status)``, ``set_box_label(id, label)`` (from
      ``label_set()``), ``set_box_flag(id, "equivocal" | "")``, ``set_image_note(image, text)``
    - history: ``undo()``, ``redo()``, ``can_undo``, ``can_redo``, ``group(label)`` (a macro),
      ``history.undo_label`` / ``history.redo_label``
    - events (``state.events``): ``box_added(box)``, ``box_changed(old, new)``,
      ``box_removed(box)``, ``image_added(image)``, ``image_changed(image)``,
      ``predictions_set(image_key, model)``, ``history_changed()``

    Values: ``ReviewBox`` (frozen: ``id, image, kind, xyxy, score, status, origin, author,
    created, modified, model_xyxy, label, flag``; ``active``, ``source``, ``xywh``), ``ImageReview`` (frozen: ``key,
    patient_id, path, sop_instance_uid, frame, status, seconds, edits, reviewer, modified,
    predicted_by, rsna_class, note``), ``ModelInfo(name, path, threshold, meta)``, the enums
    ``BoxKind``, ``BoxStatus``, ``ImageStatus``; errors: ``ReviewError`` (a ValueError).
History (:mod:`detector.review.history`)
    ``History`` (undo/redo deques, ``group``), ``Step``.
Session file (:mod:`detector.review.store`)
    ``open_session(path, reviewer=None) -> (state, store)``, ``SessionStore`` (``close()``,
    ``read_log()``), ``default_session_path(folder)``, ``SessionError``, ``SCHEMA_VERSION``.
Import / export (:mod:`detector.review.importing`, :mod:`detector.review.export`)
    ``import_labels(state, csv) -> ImportReport`` (``.summary()``, ``.problems``),
    ``import_classes(state, csv)``, ``export_review(state, out, format, threshold=None) ->
    rows`` (what File → Export calls; the output is checked first with
    :func:`detector.files.output.check_output_file`), ``default_threshold(state)``,
    ``EXPORT_FORMATS``, ``ExportError``; the command ``pneumoview export``.

Image keys come from :mod:`detector.files.identity` (``identify``, ``image_key``, ``patient_id_for``).
"""

from __future__ import annotations

from detector.review.history import History, Step
from detector.review.records import (
    BoxKind,
    BoxStatus,
    Comparison,
    ImageCounts,
    ImageReview,
    ImageStatus,
    ModelInfo,
    ReviewBox,
    ReviewError,
)
from detector.review.state import ReviewState
from detector.review.store import (
    SCHEMA_VERSION,
    SessionError,
    SessionLockedError,
    SessionReadOnlyError,
    SessionStore,
    default_session_path,
    open_session,
)

__all__ = [
    "SCHEMA_VERSION",
    "BoxKind",
    "BoxStatus",
    "Comparison",
    "History",
    "ImageCounts",
    "ImageReview",
    "ImageStatus",
    "ModelInfo",
    "ReviewBox",
    "ReviewError",
    "ReviewState",
    "SessionError",
    "SessionLockedError",
    "SessionReadOnlyError",
    "SessionStore",
    "Step",
    "default_session_path",
    "open_session",
]
