"""A registered model's signature as serving reads it: plain dataclasses over the JSON document
that `mlops.training.signature` writes (pydantic there, none here, for a short cold start; no numpy
either: the registry API, which has none, reads signatures too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

Kind = Literal["numeric", "categorical", "datetime"]
OTHER = "__other__"  # the one-hot column for rare training values (mlops.training.features.OTHER)
PART_SEPARATOR = "__"  # a date's part as a model input: `signup_date__month` (mlops.serving.date_parts.part_name)


class SignatureError(ValueError):
    """The signature document is not one serving can use (a broken or foreign artifact)."""


@dataclass(frozen=True)
class ServedInput:
    """One request field with everything needed to check and encode it."""

    name: str
    kind: Kind
    source_type: str
    column: int  # first column of this field in the model's float32 input
    nullable: bool
    impute: float = 0.0
    allowed_min: float | None = None
    allowed_max: float | None = None
    allowed_values: frozenset[str] | None = None
    # An int field's allowed values as numbers (the contract's `allowed_values` on an int column):
    # the signature stores them as text, as for a category; serving compares numbers.
    allowed_numbers: frozenset[float] | None = None
    categories: tuple[str, ...] = ()
    other: bool = False
    train_min: float | None = None
    train_max: float | None = None
    # datetime: the parts the model takes, the zero of days_since, each part's value for a missing
    # date, the ISO format a client writes and the training split's first and last values.
    parts: tuple[str, ...] = ()
    reference: str = "1970-01-01"
    part_impute: tuple[float, ...] = ()
    format: str | None = None
    earliest: str | None = None
    latest: str | None = None

    @property
    def width(self) -> int:
        if self.kind == "datetime":
            return len(self.parts)
        return 1 if self.kind == "numeric" else len(self.categories) + int(self.other)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}{PART_SEPARATOR}{part}" for part in self.parts)


@dataclass(frozen=True)
class ServedSignature:
    problem_type: str
    label: str
    inputs: tuple[ServedInput, ...]
    input_name: str
    n_features: int
    output_names: tuple[str, ...]
    classes: tuple[Any, ...] | None

    @property
    def classifier(self) -> bool:
        return self.classes is not None

    @cached_property
    def field_names(self) -> frozenset[str]:
        return frozenset(i.name for i in self.inputs)

    @cached_property
    def _by_name(self) -> dict[str, ServedInput]:
        return {i.name: i for i in self.inputs}

    def field(self, name: str) -> ServedInput:
        return self._by_name[name]

    @cached_property
    def field_kinds(self) -> dict[str, str]:
        """Field -> numeric | categorical, as capture records them: a date as its ISO text plus its
        parts as numbers, under their model-input names (what drift compares with the profile)."""
        kinds: dict[str, str] = {}
        for i in self.inputs:
            if i.kind == "datetime":
                kinds[i.name] = "categorical"
                kinds.update(dict.fromkeys(i.part_names, "numeric"))
            else:
                kinds[i.name] = i.kind
        return kinds

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ServedSignature:
        try:
            return _parse(document)
        except (KeyError, TypeError, ValueError) as error:
            raise SignatureError(f"unreadable model signature: {type(error).__name__}: {error}") from error

    def describe(self) -> dict[str, Any]:
        """What a prediction client needs to know (GET /v1/models/{name}/signature)."""
        fields: list[dict[str, Any]] = []
        for i in self.inputs:
            field: dict[str, Any] = {"name": i.name, "type": i.source_type, "nullable": i.nullable}
            if i.kind == "numeric":
                field["range"] = {"min": i.allowed_min, "max": i.allowed_max}
                field["training_range"] = {"min": i.train_min, "max": i.train_max}
                if i.allowed_numbers is not None:
                    field["allowed_values"] = sorted(_number_text(v, i.source_type) for v in i.allowed_numbers)
            elif i.kind == "datetime":
                field["format"] = i.format
                field["training_range"] = {"min": i.earliest, "max": i.latest}
                field["model_inputs"] = list(i.part_names)
            else:
                field["allowed_values"] = sorted(i.allowed_values) if i.allowed_values is not None else None
                field["training_categories"] = list(i.categories)
            fields.append(field)
        return {
            "problem_type": self.problem_type,
            "label": self.label,
            "inputs": fields,
            "classes": list(self.classes) if self.classes is not None else None,
        }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _number_text(value: float, source_type: str) -> float | int:
    """An allowed number as a client writes it: 2, not 2.0, for an int field."""
    return int(value) if source_type == "int" else value


def _allowed_numbers(kind: Kind, source_type: str, values: Any) -> frozenset[float] | None:
    """A number field's allowed values (None: any number within the bounds). A bool's are left to
    its own check (true or false), so only int and float fields have them here."""
    if values is None or kind != "numeric" or source_type == "bool":
        return None
    return frozenset(float(v) for v in values)


def _parse(document: Mapping[str, Any]) -> ServedSignature:
    specs = {f["name"]: f for f in document["feature_spec"]["features"]}
    inputs: list[ServedInput] = []
    column = 0
    for field in document["inputs"]:
        spec = specs[field["name"]]
        values = field.get("allowed_values")
        kind: Kind = field["kind"] if field["kind"] in ("numeric", "datetime") else "categorical"
        dated = kind == "datetime"
        served = ServedInput(
            name=str(field["name"]),
            kind=kind,
            source_type=str(field["type"]),
            column=column,
            nullable=bool(field.get("nullable", True)),
            impute=0.0 if dated else float(spec.get("impute", 0.0)),
            allowed_min=_optional_float(field.get("allowed_min")),
            allowed_max=_optional_float(field.get("allowed_max")),
            allowed_values=frozenset(str(v) for v in values) if values is not None else None,
            allowed_numbers=_allowed_numbers(kind, str(field["type"]), values),
            categories=tuple(str(c) for c in spec.get("categories", ())),
            other=bool(spec.get("other", False)),
            train_min=_optional_float(field.get("min")),
            train_max=_optional_float(field.get("max")),
            parts=tuple(str(p) for p in spec.get("parts", ())) if dated else (),
            reference=str(spec.get("reference", "1970-01-01")),
            part_impute=tuple(float(v) for v in spec.get("impute", ())) if dated else (),
            format=field.get("format"),
            earliest=field.get("earliest"),
            latest=field.get("latest"),
        )
        if dated and len(served.part_impute) != len(served.parts):
            raise ValueError(
                f"datetime field {served.name!r}: {len(served.parts)} parts, {len(served.part_impute)} imputes"
            )
        inputs.append(served)
        column += served.width
    n_features = int(document["onnx_input"]["shape"][1])
    if column != n_features:
        raise ValueError(f"the inputs encode to {column} columns, the model takes {n_features}")
    classes = document.get("classes")
    return ServedSignature(
        problem_type=str(document["problem_type"]),
        label=str(document["label"]),
        inputs=tuple(inputs),
        input_name=str(document["onnx_input"]["name"]),
        n_features=n_features,
        output_names=tuple(str(o["name"]) for o in document["outputs"]),
        classes=tuple(classes) if classes is not None else None,
    )


def _range_text(low: float | None, high: float | None) -> str:
    return f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def _covers(outer: tuple[float | None, float | None], inner: tuple[float | None, float | None]) -> bool:
    """Whether range `outer` accepts every value range `inner` accepts (None: unbounded)."""
    low_ok = outer[0] is None or (inner[0] is not None and outer[0] <= inner[0])
    high_ok = outer[1] is None or (inner[1] is not None and outer[1] >= inner[1])
    return low_ok and high_ok


def signature_differences(champion: ServedSignature, challenger: ServedSignature) -> list[str]:
    """Why some request the champion accepts would be refused (or answered in another shape) by the
    challenger; empty when every such request reaches either version alike. A canary or shadow
    between versions that differ fails its share of traffic (a field the challenger does not know
    is refused as unknown), so the registry refuses such a rollout unless told otherwise."""
    problems: list[str] = []
    theirs = {i.name: i for i in challenger.inputs}
    ours = {i.name: i for i in champion.inputs}
    for name in sorted(ours.keys() - theirs.keys()):
        problems.append(f"field {name!r}: the champion takes it, the challenger refuses it as unknown")
    for name in sorted(theirs.keys() - ours.keys()):
        problems.append(f"field {name!r}: the challenger requires it, the champion's clients do not send it")
    for name in sorted(ours.keys() & theirs.keys()):
        old, new = ours[name], theirs[name]
        if old.kind != new.kind:
            problems.append(f"field {name!r}: {old.kind} for the champion, {new.kind} for the challenger")
            continue
        if old.nullable and not new.nullable:
            problems.append(f"field {name!r}: the champion accepts null, the challenger does not")
        if old.kind == "numeric" and not _covers(
            (new.allowed_min, new.allowed_max), (old.allowed_min, old.allowed_max)
        ):
            problems.append(
                f"field {name!r}: the challenger accepts {_range_text(new.allowed_min, new.allowed_max)}, "
                f"narrower than the champion's {_range_text(old.allowed_min, old.allowed_max)}"
            )
        if old.kind == "categorical" and new.allowed_values is not None:
            missing = sorted(old.allowed_values - new.allowed_values) if old.allowed_values is not None else []
            if old.allowed_values is None:
                problems.append(f"field {name!r}: the champion accepts any value, the challenger only a list")
            elif missing:
                shown = ", ".join(repr(v) for v in missing[:5]) + (" …" if len(missing) > 5 else "")
                problems.append(f"field {name!r}: the challenger refuses {shown}, which the champion accepts")
        if old.kind == "numeric" and new.allowed_numbers is not None:
            if old.allowed_numbers is None:
                problems.append(f"field {name!r}: the champion accepts any number, the challenger only a list")
            elif numbers := sorted(old.allowed_numbers - new.allowed_numbers):
                shown = ", ".join(f"{v:g}" for v in numbers[:5]) + (" …" if len(numbers) > 5 else "")
                problems.append(f"field {name!r}: the challenger refuses {shown}, which the champion accepts")
    if champion.problem_type != challenger.problem_type:
        problems.append(
            f"answers: {champion.problem_type} for the champion, {challenger.problem_type} for the challenger"
        )
    elif champion.classes != challenger.classes:
        problems.append(
            f"answers: classes {list(champion.classes or ())} for the champion, "
            f"{list(challenger.classes or ())} for the challenger"
        )
    return problems
