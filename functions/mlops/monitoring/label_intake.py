"""Labels in (issue #19): a submission of ground truth (an API call's list, a feedback file's rows)
checked against what the model answers, and cut into the label store's objects.

Two kinds of trouble, kept apart on purpose. A label that cannot be right (a class the model does not
have, text for a regression, a negative or fractional row, a field missing) is the sender's bug:
the whole submission is refused, every such label named by index and field, and nothing is stored.
A label that is well formed but cannot be joined (an id this platform never issued, a key no captured
prediction was made with, a prediction older than the horizon, an answer time in the future) is
ordinary traffic: it is counted and reported, never stored, and the rest of the submission is.

A label names its prediction by the request id the answer carried, or by the request's
`x-request-key` (`request_key`, with `row`), or by the row's id field (`id`, the field
`monitoring.performance.id_field` names): a key is resolved to its request id when the label
arrives (`mlops.serving.prediction_keys`), and from there on the label is like any other.
Duplicates are stored in arrival order, as the join keeps the latest and the earlier ones are the
audit trail.

numpy and the standard library only: the predict function (no pandas, no pydantic) runs this for
`POST /v1/models/{name}/feedback`, and the feedback function for files under `feedback/<model>/`.

One module past 500 lines on purpose: what a label must be (the target), the checks of each field,
the refusal rules and the words a sender reads about each label (an API answer and a file report
both quote them) are one rule set; split, the API and the files could drift apart on what counts as
a problem or a refusal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import numpy as np

from mlops.monitoring.label_store import LabelBatch, label_key, labels_npz, whole_ms
from mlops.serving.inputs import MAX_ROWS, QUOTED_CHARACTERS, bounded
from mlops.serving.prediction_keys import (
    MAX_KEY_LENGTH,
    PredictionKey,
    ResolvedKey,
    key_policy,
    recordable,
)
from mlops.serving.signature import ServedSignature

MAX_LABELS: Final = 10_000  # labels in one API request (413 above: send more as a feedback file)
# A label may name a prediction answered up to this far ahead of the receiving clock (clock skew
# between the caller and Lambda); beyond it the id cannot have been issued yet.
FUTURE_SLACK: Final = timedelta(minutes=5)
EXAMPLES: Final = 20  # refusals shown with their index; the counts cover them all
MAX_PROBLEMS: Final = 100  # problems listed; problem_count says how many there were
FIELDS: Final = ("request_id", "request_key", "id", "row", "label")
REFERENCES: Final = ("request_id", "request_key", "id")  # a label names its prediction by exactly one

RefusalReason = Literal["unknown_id", "unknown_key", "too_late", "from_the_future"]
REFUSAL_REASONS: Final[tuple[RefusalReason, ...]] = ("unknown_id", "unknown_key", "too_late", "from_the_future")
# Resolves keys to the latest prediction made with each at or before a time (PredictionKeys.resolve
# for one model); a key that named none is left out.
KeyResolver = Callable[[Sequence[PredictionKey], datetime], Mapping[PredictionKey, ResolvedKey]]


class _Missing:
    """A field the label does not have (told apart from null, which a file's empty cell gives)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


class NotMonitored(Exception):  # noqa: N818 - the model's state, not a program error
    """The model's champion was trained without `monitoring.performance`: no labels are taken."""

    def __init__(self, model: str, version: int | None) -> None:
        which = f"its champion v{version}" if version is not None else "its champion"
        super().__init__(
            f"{model} takes no labels: {which} was trained with a config without monitoring.performance. Add "
            f"`monitoring: {{performance: {{}}}}` (with the floors you want) to configs/{model}.yaml, deploy it with "
            "`mlops config deploy`, then train and promote a version: labels are taken for models whose champion "
            "has it"
        )
        self.model = model


@dataclass(frozen=True)
class LabelTarget:
    """What a model's labels must be: one of its classes as serving answers them (text), or a number."""

    model: str
    classes: tuple[str, ...] | None  # None: regression
    horizon: timedelta  # monitoring.performance.horizon_days
    label_column: str = "label"  # the config's label column, which a feedback file may use instead of `label`
    id_field: str | None = None  # monitoring.performance.id_field: labels may name a row by it (`id`)

    @property
    def classifier(self) -> bool:
        return self.classes is not None


def label_target(
    model: str, signatures: Sequence[ServedSignature], monitoring: Mapping[str, Any] | None, version: int | None = None
) -> LabelTarget:
    """The target of the versions answering for `model` (champion first, then a challenger), from the
    champion's stored `monitoring` section; NotMonitored when it has no `performance`."""
    keys = key_policy(monitoring)  # the horizon and id field, read as predict reads them
    if keys is None:
        raise NotMonitored(model, version)
    champion = signatures[0]
    classes: tuple[str, ...] | None = None
    if champion.classes is not None:
        names = [str(c) for c in champion.classes]
        for other in signatures[1:]:  # a challenger's classes are answers too (a canary or shadow)
            names += [str(c) for c in other.classes or () if str(c) not in names]
        classes = tuple(names)
    return LabelTarget(model, classes, keys.horizon, champion.label, keys.id_field)


@dataclass(frozen=True)
class LabelProblem:
    """A label that cannot be right: where (its index in the submission, the field) and what."""

    index: int
    field: str
    code: str  # not_an_object | unknown_field | missing_field | wrong_type | unknown_class | not_finite | invalid_row
    detail: str  # what is wrong, without where (the API says labels[i].field, a file row and column)


@dataclass(frozen=True)
class Refusal:
    """A well-formed label that cannot be joined: counted, reported, not stored."""

    index: int
    reason: RefusalReason
    request_id: str  # what the label named its prediction by, as sent (a request id, key or id)
    detail: str
    by: str = "request_id"  # which field that was: request_id, request_key or id


@dataclass(frozen=True)
class Submission:
    """Labels as sent, field by field (MISSING where a label lacks one), with what was wrong with the
    submission's shape label by label (an item that is no object, an unknown field)."""

    request_ids: Sequence[Any]
    rows: Sequence[Any]
    values: Sequence[Any]
    problems: tuple[LabelProblem, ...] = ()
    request_keys: Sequence[Any] = ()  # empty: no label names a request key
    ids: Sequence[Any] = ()  # empty: no label names an id

    def __post_init__(self) -> None:
        if not (len(self.request_ids) == len(self.rows) == len(self.values)):
            raise ValueError("request_ids, rows and values must be as long as each other")
        for name in ("request_keys", "ids"):
            if len(getattr(self, name)) not in (0, len(self.request_ids)):
                raise ValueError(f"{name} must be empty or as long as request_ids")

    def _references(self, index: int) -> dict[str, Any]:
        return {
            "request_id": self.request_ids[index],
            "request_key": self.request_keys[index] if self.request_keys else MISSING,
            "id": self.ids[index] if self.ids else MISSING,
        }

    def null_references(self, index: int) -> list[str]:
        """The fields label `index` has that name a prediction but are null (a file's empty cells)."""
        return [name for name, value in self._references(index).items() if value is None]

    def reference(self, index: int) -> dict[str, Any]:
        """The fields label `index` names its prediction by (those it has)."""
        return {
            name: value for name, value in self._references(index).items() if value is not MISSING and value is not None
        }

    def __len__(self) -> int:
        return len(self.request_ids)


class SubmissionError(Exception):
    """The submission as a whole cannot be read (not the body's shape, over the limit): nothing is stored."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def submission_from_body(body: Any, *, max_labels: int = MAX_LABELS, model: str = "<model>") -> Submission:
    """`{"labels": [{"request_id" | "request_key" | "id", "row"?, "label"}, ...]}` as a Submission;
    SubmissionError for a body of another shape (400) or more than `max_labels` labels (413, saying
    how to send more)."""
    if not isinstance(body, Mapping) or set(body) != {"labels"}:
        raise SubmissionError(
            400, "invalid_body", 'the body must be a JSON object with one key, "labels": a list of labels'
        )
    items = body["labels"]
    if not isinstance(items, list):
        raise SubmissionError(400, "invalid_body", '"labels" must be a list of {"request_id", "row", "label"} objects')
    if not items:
        raise SubmissionError(400, "invalid_body", '"labels" is empty: send at least one label')
    if len(items) > max_labels:
        raise SubmissionError(
            413,
            "too_many_labels",
            f"{len(items):,} labels in one request; the limit is {max_labels:,} and nothing was stored. Send them in "
            f"requests of up to {max_labels:,}, or upload them as a CSV or Parquet file (request_id, row, label "
            f"columns) to the raw bucket under feedback/{model}/",
        )
    ids: list[Any] = []
    keys: list[Any] = []
    row_ids: list[Any] = []
    rows: list[Any] = []
    values: list[Any] = []
    problems: list[LabelProblem] = []
    for index, item in enumerate(items):
        fields: Mapping[Any, Any] = item if isinstance(item, Mapping) else {}
        if not isinstance(item, Mapping):
            problems.append(
                LabelProblem(
                    index, "", "not_an_object", f'must be a {{"request_id", "row", "label"}} object, got {_kind(item)}'
                )
            )
        for name in sorted(set(fields) - set(FIELDS), key=str):
            # Bounded: a 3 MB name quoted in field and message made an answer past Lambda's 6 MB limit (a 502).
            length = f" (a name of {len(str(name)):,} characters)" if len(str(name)) > QUOTED_CHARACTERS else ""
            problems.append(
                LabelProblem(
                    index, bounded(str(name)), "unknown_field", f"is not a label's field ({', '.join(FIELDS)}){length}"
                )
            )
        ids.append(fields.get("request_id", MISSING))
        keys.append(fields.get("request_key", MISSING))
        row_ids.append(fields.get("id", MISSING))
        rows.append(fields.get("row", MISSING))
        values.append(fields.get("label", MISSING))
    return Submission(ids, rows, values, tuple(problems), keys, row_ids)


@dataclass(frozen=True)
class LabelIntake:
    """What a submission came to: the label objects to store (none when any label has a problem),
    and the counts and examples its sender is told."""

    model: str
    batches: tuple[LabelBatch, ...]
    submitted: int
    accepted: int
    refused: Mapping[RefusalReason, int]
    examples: tuple[Refusal, ...]  # the first EXAMPLES refusals
    duplicates: int  # accepted labels about a (request, row) an earlier label of the same submission named
    problems: tuple[LabelProblem, ...]  # the first MAX_PROBLEMS; any at all: nothing is stored
    problem_count: int
    numbers_as_classes: int  # labels sent as numbers (or booleans) and matched to a class by value
    classes: tuple[str, ...] | None
    reused_keys: int = 0  # labels whose key named several predictions: each took the latest

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def notes(self) -> list[str]:
        """What was done that the sender may not expect."""
        notes: list[str] = []
        if self.numbers_as_classes:
            notes.append(
                f"{self.numbers_as_classes} labels were numbers, booleans or numeric text; each was stored as "
                'the class of that value (1, true and "1.0" as class "1")'
            )
        if self.reused_keys:
            notes.append(
                f"{self.reused_keys} labels named a request key or id that several predictions were made with; each "
                "was taken as about the latest made before the label arrived (name a request_id to label another)"
            )
        if self.duplicates:
            notes.append(
                f"{self.duplicates} labels named a request and row an earlier label of this submission named; all are "
                "stored, and the join keeps the latest"
            )
        return notes


def check_labels(
    submission: Submission,
    target: LabelTarget,
    *,
    now: datetime,
    received_at: datetime,
    source: str,
    resolve: KeyResolver | None = None,
) -> LabelIntake:
    """Every label checked against `target`; the accepted ones grouped by their predictions' hour in
    arrival order. `now` is when the labels arrived (the horizon and the future are measured from it,
    and a key names the latest prediction made with it by then, through `resolve`)."""
    # The submission lists every unknown field of every label; an answer lists the first MAX_PROBLEMS.
    problems: list[LabelProblem] = list(submission.problems[:MAX_PROBLEMS])
    problem_count = len(submission.problems)
    classes = _ClassMatcher(target) if target.classes is not None else None

    def problem(index: int, name: str, code: str, detail: str) -> None:
        nonlocal problem_count
        problem_count += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(LabelProblem(index, name, code, detail))

    # Every label's fields first: a submission with any problem is refused whole, before a key is looked up.
    not_objects = {p.index for p in submission.problems if p.code == "not_an_object"}  # their fields: no more problems
    checked: list[tuple[int, str | PredictionKey, str, int, Any, bool]] = []  # index, reference, as sent, row, label
    for index in range(len(submission)):
        if index in not_objects:
            continue
        before = problem_count
        reference = _reference(submission, index, target, problem)
        row = _row(submission.rows[index])
        if isinstance(row, str):
            problem(index, "row", "invalid_row", row)
        elif isinstance(reference, PredictionKey) and reference.kind == "id" and _sent(submission.rows[index]):
            problem(index, "row", "unexpected_field", "must be left out: an id names its row")
        raw_value = submission.values[index]
        value, matched_number, trouble = classes.match(raw_value) if classes is not None else _number(raw_value)
        if trouble is not None:
            problem(index, "label", *trouble)
        if problem_count == before:
            assert reference is not None and isinstance(row, int)
            shown = reference if isinstance(reference, str) else reference.value
            checked.append((index, reference, shown, row, value, matched_number))
    if problem_count:
        return LabelIntake(
            model=target.model,
            batches=(),
            submitted=len(submission),
            accepted=0,
            refused=dict.fromkeys(REFUSAL_REASONS, 0),
            examples=(),
            duplicates=0,
            problems=tuple(problems),
            problem_count=problem_count,
            numbers_as_classes=0,
            classes=target.classes,
        )
    keys = [reference for _, reference, *_ in checked if isinstance(reference, PredictionKey)]
    resolved: Mapping[PredictionKey, ResolvedKey] = {}
    if keys:
        if resolve is None:
            raise ValueError("labels name predictions by key, and no key resolver was given")
        resolved = resolve(keys, now)

    refused: dict[RefusalReason, int] = dict.fromkeys(REFUSAL_REASONS, 0)
    examples: list[Refusal] = []
    kept: dict[int, tuple[list[str], list[int], list[Any]]] = {}  # by hours since the epoch
    seen: set[tuple[str, int]] = set()
    duplicates = converted = accepted = reused = 0
    earliest, latest = whole_ms(now - target.horizon), whole_ms(now + FUTURE_SLACK)
    for index, reference, shown, sent_row, value, matched_number in checked:
        row = sent_row
        refusal: tuple[RefusalReason, str] | None = None
        request_id: str | None = None
        issued_ms = 0
        if isinstance(reference, PredictionKey):
            found = resolved.get(reference)
            if found is None:
                refusal = ("unknown_key", _unknown_key(reference, target))
            else:
                reused += found.reused
                request_id, issued_ms = parse_request_id(found.request_id)
                row = found.row if found.row is not None else row
        else:
            request_id, issued_ms = parse_request_id(reference)
            if request_id is None:
                refusal = ("unknown_id", "is not a request id this platform issued (a predict answer's request_id)")
        if refusal is None and issued_ms < earliest:
            refusal = (
                "too_late",
                f"its prediction was answered at {_at(issued_ms):%Y-%m-%d %H:%M} UTC, more than "
                f"{_days(target.horizon)} (monitoring.performance.horizon_days) before the label arrived",
            )
        elif refusal is None and issued_ms > latest:
            refusal = (
                "from_the_future",
                f"says its prediction was answered at {_shown_time(issued_ms)}, later than the label arrived",
            )
        if refusal is not None:
            refused[refusal[0]] += 1
            if len(examples) < EXAMPLES:
                by = "request_id" if isinstance(reference, str) else "request_key" if reference.kind == "key" else "id"
                examples.append(Refusal(index, refusal[0], shown[:100], refusal[1], by))
            continue
        assert request_id is not None
        accepted += 1
        converted += matched_number
        if (request_id, row) in seen:
            duplicates += 1
        seen.add((request_id, row))
        ids, rows, values = kept.setdefault(issued_ms // _HOUR_MS, ([], [], []))
        ids.append(request_id)
        rows.append(row)
        values.append(value)
    batches = tuple(
        LabelBatch(
            model=target.model,
            hour=_at(hour * _HOUR_MS),
            request_ids=np.array(ids, dtype=str),
            rows=np.array(rows, dtype=np.int64),
            values=np.array(values, dtype=str if target.classifier else np.float64),
            received_at=received_at,
            source=source,
        )
        for hour, (ids, rows, values) in sorted(kept.items())
    )
    return LabelIntake(
        model=target.model,
        batches=batches,
        submitted=len(submission),
        accepted=accepted,
        refused=refused,
        examples=tuple(examples),
        duplicates=duplicates,
        problems=(),
        problem_count=0,
        numbers_as_classes=converted,
        classes=target.classes,
        reused_keys=reused,
    )


def _reference(
    submission: Submission, index: int, target: LabelTarget, problem: Callable[[int, str, str, str], None]
) -> str | PredictionKey | None:
    """What label `index` names its prediction by: a request id as sent, or a key; None after a problem."""
    sent = submission.reference(index)
    empty = submission.null_references(index)
    if not sent and empty:
        what = {"request_id": "request id", "request_key": "request key", "id": f"{target.id_field or 'id'} value"}
        problem(
            index,
            empty[0],
            "missing_field",
            f"is null or an empty cell: the {what[empty[0]]} of the prediction this label is about",
        )
        return None
    if not sent:
        problem(
            index,
            "request_id",
            "missing_field",
            "is missing: name the prediction by request_id (the predict answer's), request_key (the request's "
            "x-request-key, with row) or id (the row's id field)",
        )
        return None
    if len(sent) > 1:
        names = list(sent)
        problem(index, names[1], "conflicting_fields", f"and {names[0]} both name the prediction: send one of them")
        return None
    ((name, raw),) = sent.items()
    if name == "request_id":
        if not isinstance(raw, str):
            problem(index, name, "wrong_type", f"must be text (the prediction's request_id), got {_kind(raw)}")
            return None
        return raw
    if name == "request_key":
        key = recordable(raw) if isinstance(raw, str) else None
        if key is None:
            problem(
                index,
                name,
                "wrong_type",
                f"must be text of 1 to {MAX_KEY_LENGTH} characters (the request's x-request-key), got {_kind(raw)}",
            )
            return None
        return PredictionKey("key", key)
    if target.id_field is None:
        problem(
            index,
            name,
            "no_id_field",
            f"{target.model} names no id field (monitoring.performance.id_field in its config): name the prediction "
            "by request_id, or by request_key and row",
        )
        return None
    row_id = recordable(raw)
    if row_id is None:
        problem(
            index,
            name,
            "wrong_type",
            f"must be text of 1 to {MAX_KEY_LENGTH} characters or a whole number (the row's {target.id_field!r}), "
            f"got {_kind(raw)}",
        )
        return None
    return PredictionKey("id", row_id)


def _sent(value: Any) -> bool:
    return value is not MISSING and value is not None


def _unknown_key(key: PredictionKey, target: LabelTarget) -> str:
    what = "x-request-key" if key.kind == "key" else f"{target.id_field!r}"
    return (
        f"no prediction of {target.model} was made with this {what} in the last {_days(target.horizon)} (a key is "
        "known once its prediction's capture is written, within a minute of the answer by default)"
    )


def store_labels(intake: LabelIntake, suffix: str, put: Callable[[str, bytes], None]) -> list[str]:
    """Write the intake's label objects (one per hour of predictions); their keys, in hour order.
    The same intake and suffix write the same keys, so a retried file overwrites, never adds."""
    if intake.problem_count:
        raise ValueError("an intake with problems stores nothing")
    keys: list[str] = []
    for batch in intake.batches:
        key = label_key(batch, suffix)
        put(key, labels_npz(batch))
        keys.append(key)
    return keys


class _ClassMatcher:
    """A label as one of the target's classes: its text exactly, or a number by value."""

    def __init__(self, target: LabelTarget) -> None:
        self.target = target
        classes = target.classes or ()
        self.names = frozenset(classes)
        self.by_value: dict[float, str] = {}
        for name in classes:
            number = _finite(name)
            if number is not None:
                self.by_value.setdefault(number, name)

    def match(self, value: Any) -> tuple[str, bool, tuple[str, str] | None]:
        """(the class, whether a number was matched by value, (code, detail) when it is no class)."""
        if value is MISSING or value is None:
            return "", False, ("missing_field", "is missing: the class this prediction should have answered")
        if isinstance(value, str):
            if value in self.names:
                return value, False, None
            # Numeric text names a numeric class by value, as a number does: a CSV cell "0.0" (pandas
            # writes an int column with gaps so) is class "0", as the API's 0.0 is.
            number = _finite(value)
            if number is not None and number in self.by_value:
                return self.by_value[number], True, None
            return (
                "",
                False,
                ("unknown_class", f"{_shown(value)} is not a class of {self.target.model}; {self._listed()}"),
            )
        if isinstance(value, bool):
            if str(value) in self.names:
                return str(value), True, None
            if float(value) in self.by_value:  # true is class "1", false class "0"
                return self.by_value[float(value)], True, None
        elif isinstance(value, int | float):
            if str(value) in self.names:
                return str(value), True, None
            number = _finite(value)
            if number is not None and number in self.by_value:
                return self.by_value[number], True, None
        else:
            return "", False, ("wrong_type", f"must be one of {self.target.model}'s classes, got {_kind(value)}")
        return "", False, ("unknown_class", f"{_shown(value)} is not a class of {self.target.model}; {self._listed()}")

    def _listed(self) -> str:
        classes = self.target.classes or ()
        shown = ", ".join(_shown(c) for c in classes[:20]) + (
            f" and {len(classes) - 20} more" if len(classes) > 20 else ""
        )
        return f"its classes are {shown}"


def _number(value: Any) -> tuple[float, bool, tuple[str, str] | None]:
    """A regression label: a finite number; a boolean is not one."""
    if value is MISSING or value is None:
        return 0.0, False, ("missing_field", "is missing: the value this prediction should have answered")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0, False, ("wrong_type", f"must be a number (a regression's label), got {_kind(value)}")
    number = _finite(value)
    if number is None:
        return 0.0, False, ("not_finite", f"must be a finite number, got {_shown(value)}")
    return number, False, None


def _row(value: Any) -> int | str:
    """The label's row in its request (0 when not given); a str says why it is none."""
    if value is MISSING or value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a whole number from 0 (the row's place in its predict request), got {_kind(value)}"
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return f"must be a whole number from 0 (the row's place in its predict request), got {_shown(value)}"
    row = int(value)
    if not 0 <= row < MAX_ROWS:
        return f"must be from 0 to {MAX_ROWS - 1} (a predict request has at most {MAX_ROWS:,} rows), got {row}"
    return row


_HOUR_MS: Final = 3_600_000
# What `request_ids.canonical` accepts, lowercased: a hyphenated UUID of version 7 and RFC 9562's
# variant (tests hold the two equal). A pattern, not uuid.UUID: a million labels are checked in a second.
_UUID7: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def parse_request_id(request_id: str) -> tuple[str | None, int]:
    """The id as this platform wrote it and when it was issued (Unix ms, its first 48 bits), or
    (None, 0) for anything `mlops.serving.request_ids.canonical` refuses."""
    if len(request_id) != 36:
        return None, 0
    lowered = request_id.lower()
    if _UUID7.fullmatch(lowered) is None:
        return None, 0
    return lowered, int(lowered[:8] + lowered[9:13], 16)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _shown_time(ms: int) -> str:
    """A UUIDv7's time as a person reads it; its 48 bits reach the year 10889, past what datetime holds."""
    try:
        return f"{_at(ms):%Y-%m-%d %H:%M:%S} UTC"
    except (ValueError, OverflowError):
        return f"{ms} ms after 1970 (past the year 9999)"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} day" + ("" if days == 1 else "s")


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {_shown(value)}"
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def api_answer(intake: LabelIntake, stored: Sequence[str]) -> dict[str, Any]:
    """The 200 of `POST /v1/models/{name}/feedback`: what was stored, and what was not and why."""
    return {
        "accepted": intake.accepted,
        "refused": dict(intake.refused),
        "examples": [
            {
                "index": r.index,
                "reason": r.reason,
                r.by: r.request_id,
                "message": f"labels[{r.index}]: {r.detail}",
            }
            for r in intake.examples
        ],
        "duplicates": intake.duplicates,
        "stored": list(stored),
        "notes": intake.notes(),
    }


def api_problems(intake: LabelIntake) -> dict[str, Any]:
    """The 400 of `POST /v1/models/{name}/feedback`: every label that cannot be right, by index and field."""
    count = intake.problem_count
    problems = f"{count} problem{'s' if count != 1 else ''}"
    return {
        "error": {
            "code": "invalid_labels",
            "message": f"{problems} in the labels of {intake.model}; nothing was stored",
            "problems": [
                {
                    "code": p.code,
                    "message": f"labels[{p.index}]{'.' + p.field if p.field else ''}: {p.detail}",
                    "index": p.index,
                    **({"field": p.field} if p.field else {}),
                }
                for p in intake.problems
            ],
            "problem_count": count,
        }
    }
