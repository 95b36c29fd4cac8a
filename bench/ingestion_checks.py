"""The ingestion benchmark's checks written three ways, and each tool's findings in one vocabulary.

The same expectations on the 20 columns of ``bench.ingestion_data``, as platform contract /
pandera 0.35 ``DataFrameSchema`` (``lazy=True``) / Great Expectations 1.x on a pandas data source:

- type: ``type: int|float|bool|datetime`` (each cell parses, checked while reading; unparseable
  cells reported one by one) / ``coerce=True`` to int64, float64, bool, datetime64 (with the
  contract's strptime format): coercion failures per cell, then a dtype check / GE does not coerce:
  ``ExpectColumnValuesToBeInTypeList`` judges the column's dtype as a whole, and per cell
  ``ExpectColumnValuesToMatchRegex`` on the text (int, float, bool, the date format) finds the
  unparseable cells.
- not null: ``nullable: false`` (the default) / ``nullable=False`` (the default) /
  ``ExpectColumnValuesToNotBeNull``.
- min, max: ``min``, ``max`` / ``Check.ge``, ``Check.le`` / ``ExpectColumnValuesToBeBetween`` (one check).
- allowed values: ``allowed_values`` / ``Check.isin`` / ``ExpectColumnValuesToBeInSet``.
- regex: ``regex`` (anchored) / ``Check.str_matches("^...$")`` / ``ExpectColumnValuesToMatchRegex("^...$")``.
- unique: ``unique: true`` / ``unique=True, report_duplicates="exclude_first"`` /
  ``ExpectColumnValuesToBeUnique``.
- duplicate rows: ``duplicate_rows: reject`` / ``DataFrameSchema(unique=<all columns>,
  report_duplicates="exclude_first")`` / ``ExpectCompoundColumnsToBeUnique(<all columns>)``.
- extra columns: ``extra_columns: reject`` / ``strict=True`` / ``ExpectTableColumnsToMatchSet(exact_match=True)``.

Differences of definition, which the equivalence check allows (and labels "by definition"):

- Great Expectations counts every occurrence of a repeated value (``unique``); the platform and
  pandera (``exclude_first``) count the repeats after the first.
- Great Expectations has one range check (``between``) where the others have min and max.
- Great Expectations' dtype check is a verdict on the whole column, not a count of cells.
- pandera: int64 cannot hold a null, so a null in an int column is a coercion failure as well as a
  ``not_nullable`` failure.

Checks with no working equivalent, which the equivalence check reports as disagreements:

- pandas' readers make a whole column text when one of its cells does not parse (and a Parquet
  column that holds such cells is text already). Great Expectations does not coerce, so ``between``
  on such a column raises ``TypeError`` and its out-of-range cells are not found; pandera's ``ge``
  and ``le`` on a column whose coercion failed run on the text and fail the same way (one
  ``TypeError`` failure case for the column). Great Expectations' ``between`` on dates works only on
  the ``datetime.date`` objects pandas makes of a clean CSV date column; on text dates it raises.
- pandera's bool coercion is pandas' ``astype(bool)``: any non-empty text and any null become
  ``True``, so neither the unparseable nor the null cells of a text bool column are found.
- Great Expectations 1.24 has no type name that matches pandas 3's default string dtype (``str``),
  so no dtype check is declared for text columns (the platform's ``string`` accepts any text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench import ingestion_data as data
from bench.ingestion_data import FIRST_OCCURRENCE

TOOLS = ("platform", "pandera", "great_expectations")
LABELS = {"platform": "platform", "pandera": "pandera", "great_expectations": "Great Expectations"}
TABLE = "(table)"

INT_TEXT = r"^[+-]?[0-9]+$"
FLOAT_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
BOOL_TEXT = r"^(true|false|True|False)$"
DATE_TEXT = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


@dataclass
class Finding:
    """What one tool reported for one kind of check on one column.

    ``rows``: 0-based rows the tool named (every one for pandera, the examples for the others);
    ``error``: the check raised instead of counting; ``column_level``: a verdict on the whole column.
    """

    count: int | None = None
    rows: list[int] = field(default_factory=list)
    all_rows: bool = False
    error: str | None = None
    column_level: bool = False
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Findings = dict[str, dict[str, Finding]]  # column (or TABLE) -> kind -> finding


# -- the platform ----------------------------------------------------------------------------------------


def contract_yaml() -> str:
    lines = [
        "dataset: bench_ingestion",
        "version: 1",
        "columns:",
        f'  - {{name: customer_id, type: string, regex: "{data.ID_REGEX}", unique: true}}',
    ]
    lines += [f"  - {{name: {n}, type: int, min: {data.INT_MIN}, max: {data.INT_MAX}}}" for n in data.INT_COLUMNS]
    lines += [
        f"  - {{name: {n}, type: float, min: {data.FLOAT_MIN:g}, max: {data.FLOAT_MAX:g}}}" for n in data.FLOAT_COLUMNS
    ]
    lines += [
        f"  - {{name: plan, type: category, allowed_values: [{', '.join(data.PLANS)}]}}",
        f"  - {{name: country, type: category, allowed_values: [{', '.join(data.COUNTRIES)}]}}",
        "  - {name: note, type: string}",
        "  - {name: active, type: bool}",
        f'  - {{name: signup, type: datetime, format: "{data.DATE_FORMAT}", '
        f"min: {data.DATE_MIN.isoformat()}, max: {data.DATE_MAX.isoformat()}}}",
        "extra_columns: reject",
        "duplicate_rows: reject",
    ]
    return "\n".join(lines) + "\n"


def platform_findings(report: Any) -> Findings:
    found: Findings = {}
    for result in report.results:
        if result.success and not result.unexpected_count:
            continue
        scope, kind = result.expectation.split(".", 1)
        column = result.column if scope == "column" and result.column else TABLE
        found.setdefault(column, {})[kind] = Finding(
            count=result.unexpected_count, rows=[example.row - 1 for example in result.examples]
        )
    return found


# -- pandera -----------------------------------------------------------------------------------------------


def pandera_schema() -> Any:
    import pandas as pd
    import pandera.pandas as pa
    from pandera.engines import pandas_engine

    columns: dict[str, Any] = {
        "customer_id": pa.Column(
            str, pa.Check.str_matches(f"^{data.ID_REGEX}$"), unique=True, report_duplicates="exclude_first"
        )
    }
    for name in data.INT_COLUMNS:
        columns[name] = pa.Column("int64", [pa.Check.ge(data.INT_MIN), pa.Check.le(data.INT_MAX)], coerce=True)
    for name in data.FLOAT_COLUMNS:
        columns[name] = pa.Column("float64", [pa.Check.ge(data.FLOAT_MIN), pa.Check.le(data.FLOAT_MAX)], coerce=True)
    columns["plan"] = pa.Column(str, pa.Check.isin(list(data.PLANS)))
    columns["country"] = pa.Column(str, pa.Check.isin(list(data.COUNTRIES)))
    columns["note"] = pa.Column(str)
    columns["active"] = pa.Column(bool, coerce=True)
    date_type = pandas_engine.DateTime(to_datetime_kwargs={"format": data.DATE_FORMAT})  # type: ignore[call-arg]
    bounds = [pa.Check.ge(pd.Timestamp(data.DATE_MIN)), pa.Check.le(pd.Timestamp(data.DATE_MAX))]
    columns["signup"] = pa.Column(date_type, bounds, coerce=True)
    return pa.DataFrameSchema(columns, strict=True, unique=list(columns), report_duplicates="exclude_first")


_PANDERA_KINDS = (
    ("coerce_dtype(", "type"),
    ("dtype(", "type"),
    ("not_nullable", "not_null"),
    ("greater_than_or_equal_to(", "min"),
    ("less_than_or_equal_to(", "max"),
    ("isin(", "allowed_values"),
    ("str_matches(", "regex"),
    ("field_uniqueness", "unique"),
    ("multiple_fields_uniqueness", "duplicate_rows"),
    ("column_in_schema", "extra_columns"),
    ("column_in_dataframe", "required"),
)


def pandera_findings(failure_cases: Any) -> Findings:
    """pandera's failure cases (one row per failing cell) as distinct rows per column and kind."""
    import pandas as pd

    found: Findings = {}
    if failure_cases is None or len(failure_cases) == 0:
        return found
    cases = failure_cases[["column", "check", "failure_case", "index"]]
    for (name, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        kind = next((k for prefix, k in _PANDERA_KINDS if str(check).startswith(prefix)), str(check))
        table_level = kind in ("duplicate_rows", "extra_columns", "required") or pd.isna(name)
        column = TABLE if table_level else str(name)
        index = pd.to_numeric(group["index"], errors="coerce")
        finding = found.setdefault(column, {}).setdefault(kind, Finding(rows=[], all_rows=True))
        errors = group.loc[index.isna(), "failure_case"].astype(str)
        if kind in ("extra_columns", "required"):
            finding.count = len(group)
            continue
        if len(errors) and errors.str.contains("Error").any():
            finding.error = str(errors.iloc[0])[:160]
        rows = sorted(set(finding.rows) | set(index.dropna().astype("int64").tolist()))
        finding.rows = rows
        finding.count = len(rows)
    return found


# -- Great Expectations --------------------------------------------------------------------------------------

GE_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def ge_expectations() -> list[Any]:
    import great_expectations.expectations as gxe

    names = data.column_names()
    out: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=names, exact_match=True)]
    out += [gxe.ExpectColumnValuesToNotBeNull(column=name) for name in names]
    out += [
        gxe.ExpectColumnValuesToMatchRegex(column="customer_id", regex=f"^{data.ID_REGEX}$"),
        gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
    ]
    for name in data.INT_COLUMNS:
        out += [
            gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=["int64", "Int64"]),
            gxe.ExpectColumnValuesToMatchRegex(column=name, regex=INT_TEXT),
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=data.INT_MIN, max_value=data.INT_MAX),
        ]
    for name in data.FLOAT_COLUMNS:
        out += [
            gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=["float64", "Float64"]),
            gxe.ExpectColumnValuesToMatchRegex(column=name, regex=FLOAT_TEXT),
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=data.FLOAT_MIN, max_value=data.FLOAT_MAX),
        ]
    out += [
        gxe.ExpectColumnValuesToBeInSet(column="plan", value_set=list(data.PLANS)),
        gxe.ExpectColumnValuesToBeInSet(column="country", value_set=list(data.COUNTRIES)),
        gxe.ExpectColumnValuesToBeInTypeList(column="active", type_list=["bool", "boolean"]),
        gxe.ExpectColumnValuesToMatchRegex(column="active", regex=BOOL_TEXT),
        gxe.ExpectColumnValuesToMatchRegex(column="signup", regex=DATE_TEXT),
        gxe.ExpectColumnValuesToBeBetween(
            column="signup", min_value=data.DATE_MIN.isoformat(), max_value=data.DATE_MAX.isoformat()
        ),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=names),
    ]
    return out


def ge_batch_definition_and_suite() -> tuple[Any, Any]:
    """An ephemeral context with a pandas data source whose one batch is a whole DataFrame, and the suite."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("bench")
    batch_definition = source.add_dataframe_asset("upload").add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name="bench_ingestion"))
    for expectation in ge_expectations():
        suite.add_expectation(expectation)
    return batch_definition, suite


def _ge_kind(kind: str, column: str | None) -> tuple[str, bool]:
    """The finding's kind for an expectation type, and whether the expectation judges the column as a whole."""
    if kind == "expect_column_values_to_match_regex":
        return ("regex" if column == "customer_id" else "type"), False
    table = {
        "expect_column_values_to_not_be_null": "not_null",
        "expect_column_values_to_be_between": "min+max",
        "expect_column_values_to_be_in_set": "allowed_values",
        "expect_column_values_to_be_unique": "unique",
        "expect_compound_columns_to_be_unique": "duplicate_rows",
        "expect_table_columns_to_match_set": "extra_columns",
    }
    if kind == "expect_column_values_to_be_in_type_list":
        return "dtype", True
    return table.get(kind, kind), kind == "expect_table_columns_to_match_set"


def _ge_error(info: Any) -> str | None:
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "raised")[:160]
    return None


def ge_findings(result: Any) -> Findings:
    found: Findings = {}
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        column = config.kwargs.get("column")
        kind, column_level = _ge_kind(config.type, column)
        error = _ge_error(item.exception_info)
        outcome = item.result or {}
        rows = outcome.get("partial_unexpected_index_list") or []
        finding = Finding(
            count=outcome.get("unexpected_count"),
            rows=[int(r) for r in rows if isinstance(r, int | float)],
            error=error,
            column_level=column_level,
        )
        if kind == "dtype":
            finding.note = f"observed dtype {outcome.get('observed_value')}"
        found.setdefault(column or TABLE, {})[kind] = finding
    return found


# -- findings against the generator's bad cells ------------------------------------------------------------------


def _allowed_truth_kinds(tool: str, kind: str) -> tuple[str, ...]:
    """The generator's kinds whose rows a finding of ``kind`` may name."""
    if kind == "min+max":
        return ("min", "max")
    if kind == "unique" and tool == "great_expectations":
        return ("unique", data.FIRST_OCCURRENCE)
    return (kind,)


def summarize(tool: str, findings: Findings, bad_rows: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each finding as counts, with the rows it names checked against the generator's bad cells.

    ``outside``: named rows that are not bad cells of the allowed kinds, by what they are instead
    (another kind of bad cell in that column, or ``clean``). ``missing`` (pandera, which names every
    row): bad cells of the kind that were not named.
    """
    import numpy as np

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for column, kinds in findings.items():
        for kind, finding in kinds.items():
            summary: dict[str, Any] = {
                "count": finding.count,
                "error": finding.error,
                "column_level": finding.column_level,
                "note": finding.note,
                "named_rows": len(finding.rows),
                "all_rows": finding.all_rows,
                "outside": {},
                "missing": None,
            }
            if finding.rows and column != TABLE:
                named = np.asarray(finding.rows, dtype=np.int64)
                allowed = [
                    bad_rows[f"{column}/{k}"] for k in _allowed_truth_kinds(tool, kind) if f"{column}/{k}" in bad_rows
                ]
                expected = np.unique(np.concatenate(allowed)) if allowed else np.zeros(0, dtype=np.int64)
                outside = np.setdiff1d(named, expected)
                if outside.size:
                    remaining = outside
                    for key, rows in bad_rows.items():
                        if key.startswith(f"{column}/") and remaining.size:
                            hit = np.intersect1d(remaining, rows)
                            if hit.size:
                                summary["outside"][key.split("/", 1)[1]] = int(hit.size)
                                remaining = np.setdiff1d(remaining, hit)
                    if remaining.size:
                        summary["outside"]["clean"] = int(remaining.size)
                if finding.all_rows:
                    summary["missing"] = int(np.setdiff1d(expected, named).size)
            out.setdefault(column, {})[kind] = summary
    return out


# -- verdicts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One (column, kind) compared with the generator: ``agrees``, ``by_definition`` or ``disagrees``."""

    column: str
    kind: str
    expected: int
    found: int | None
    status: str
    text: str


def expected_counts(tool: str, truth: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """The generator's bad cells in the tool's own terms (GE: one range check, every copy of a repeat)."""
    out: dict[tuple[str, str], int] = {}
    for column, kinds in truth.items():
        for kind, count in kinds.items():
            if tool == "great_expectations" and kind in ("min", "max"):
                out[(column, "min+max")] = out.get((column, "min+max"), 0) + count
            else:
                out[(column, kind)] = count
    return out


def verdicts(tool: str, truth: dict[str, dict[str, int]], found: dict[str, dict[str, dict[str, Any]]]) -> list[Verdict]:
    """Each check the generator or the tool has something for, with whether they agree and why not."""
    expected = expected_counts(tool, truth)
    keys = list(expected) + [(c, k) for c, kinds in found.items() for k in kinds if (c, k) not in expected]
    out: list[Verdict] = []
    for column, kind in keys:
        want = expected.get((column, kind), 0)
        got = found.get(column, {}).get(kind)
        if got is None:
            status, text, count = "disagrees", f"{want} bad cells not reported", None
            out.append(Verdict(column, kind, want, count, status, text))
            continue
        count = got["count"]
        outside: dict[str, int] = got["outside"]
        if got["error"]:
            status, text = "disagrees", f"not evaluated: {got['error']}"
        elif got["column_level"]:
            has_type_errors = truth.get(column, {}).get("type", 0) > 0
            status = "by_definition" if has_type_errors else "disagrees"
            text = f"column-level failure ({got['note'] or 'whole column'})"
        elif (
            tool == "great_expectations"
            and kind == "unique"
            and count == 2 * want
            and set(outside) <= {FIRST_OCCURRENCE}
        ):
            status, text = "by_definition", f"{count}: counts the first occurrence of each repeated value too"
        elif count == want and not outside and not got["missing"]:
            status, text = "agrees", str(count)
        elif (
            tool == "pandera"
            and kind == "type"
            and set(outside) == {"not_null"}
            and count == want + truth.get(column, {}).get("not_null", 0)
            and not got["missing"]
        ):
            status, text = "by_definition", f"{count}: the {outside['not_null']} nulls fail the int64 coercion too"
        else:
            status = "disagrees"
            parts = [f"{count} reported, {want} expected"]
            parts += [f"{n} of them are {k} cells" for k, n in outside.items()]
            if got["missing"]:
                parts.append(f"{got['missing']} bad cells missed")
            text = "; ".join(parts)
        out.append(Verdict(column, kind, want, count, status, text))
    return out
