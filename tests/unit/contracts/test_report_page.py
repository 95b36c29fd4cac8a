"""The validation report page (what Great Expectations users know as Data Docs), drawn from scikit-learn's
wine and breast-cancer data written as CSV with injected faults: a person reading it finds each failed
expectation with its unexpected count, share and example rows (numbered as the JSON report numbers them),
each column's type, nulls, range and histogram; a hostile file renders as text; a huge one stays small."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_wine

from mlops.contracts.loading import load_contract
from mlops.contracts.model import DataContract
from mlops.contracts.partial_validation import validate_parts
from mlops.contracts.profile import EXACT_DISTINCT_ROWS, SAMPLE_SIZE
from mlops.contracts.reading import read_table
from mlops.contracts.report import ValidationReport
from mlops.contracts.report_page import MAX_COLUMNS_DRAWN, MAX_FAILED_DRAWN, validation_report_html
from mlops.contracts.validation import validate

HOSTILE = "<script>alert('cell')</script>"
HOSTILE_COLUMN = "<img src=x onerror=alert('column')>"
HOSTILE_FILE = "<script>alert('file')</script>.csv"


def _wine_contract() -> DataContract:
    columns = "\n".join(
        f"  - {{name: {name}, type: float, min: 0}}"
        for name in load_wine(as_frame=True).data.columns
        if name not in ("alcohol", "magnesium")
    )
    return load_contract(
        f"""
dataset: wine
version: 3
label: target
extra_columns: warn
columns:
  - {{name: alcohol, type: float, min: 10, max: 15}}
  - {{name: magnesium, type: int, min: 50, max: 200}}
{columns}
  - {{name: note, type: string, nullable: true}}
  - {{name: target, type: category, allowed_values: ["0", "1", "2"]}}
""",
        source="wine.yaml",
    )


def _faulty_wine() -> pd.DataFrame:
    """Wine with a fault per kind, each at rows the test names (frame row i is report row i + 1)."""
    frame = load_wine(as_frame=True).frame.astype(object)
    frame["magnesium"] = frame["magnesium"].astype(int).astype(object)
    frame["target"] = frame["target"].astype(int).astype(str)
    frame["note"] = "ok"
    frame.loc[[4, 9], "alcohol"] = None  # missing values: rows 5 and 10
    frame.loc[11, "magnesium"] = "lots"  # wrong type: row 12
    frame.loc[[19, 20, 21], "alcohol"] = 42.0  # out of range: rows 20, 21, 22
    frame.loc[29, "target"] = "7"  # unknown category: row 30
    frame.loc[40, "note"] = HOSTILE  # hostile HTML in a cell
    frame[HOSTILE_COLUMN] = "x"  # and in a column name
    return frame


def _read(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    return read_table(frame.to_csv(index=False).encode(), filename="wine.csv", contract=contract)


def _page(report: ValidationReport) -> str:
    document = json.loads(report.to_json())
    document["source"] = {"bucket": "raw-bucket", "key": f"raw/wine/{report.file_name}", "version_id": "v1"}
    return validation_report_html(document, report.profiles)


def _section(page: str, title: str) -> str:
    """The expectation's section on the page, by its heading."""
    start = page.index(f"<h3>{title}</h3>")
    return page[start : page.index("</section>", start)]


class _Tags(HTMLParser):
    """Every element and attribute a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


def test_each_failed_expectation_shows_its_unexpected_count_share_and_rows() -> None:
    contract = _wine_contract()
    report = validate(_read(_faulty_wine(), contract), contract, file_name="wine.csv")
    page = _page(report)

    assert "<span class='badge rejected'>rejected</span>" in page
    assert "<dd>178</dd>" in page and "<dd>v3</dd>" in page
    out_of_range = _section(page, "column &#x27;alcohol&#x27; max ≤ 15")
    assert "3 (1.7" in out_of_range  # 3 of 176 valid values
    assert re.findall(r"<td class='num'>(\d+)</td>", out_of_range) == ["20", "21", "22"]
    assert "<code>42</code>" in out_of_range  # the observed maximum
    nulls = _section(page, "column &#x27;alcohol&#x27; not null")
    assert re.findall(r"<td class='num'>(\d+)</td>", nulls) == ["5", "10"]
    wrong_type = _section(page, "column &#x27;magnesium&#x27; type int")
    assert "<td class='num'>12</td><td><code>lots</code>" in wrong_type
    unknown = _section(page, "column &#x27;target&#x27; in {0, 1, 2}")
    assert "<td class='num'>30</td><td><code>7</code>" in unknown
    # The page and the JSON report name the same rows.
    failed = {(r.expectation, r.column): [e.row for e in r.examples] for r in report.failures}
    assert failed[("column.max", "alcohol")] == [20, 21, 22]


def test_each_column_shows_its_type_nulls_range_and_a_histogram() -> None:
    contract = _wine_contract()
    page = _page(validate(_read(_faulty_wine(), contract), contract, file_name="wine.csv"))

    alcohol = page[page.index("<h3>alcohol</h3>") :]
    alcohol = alcohol[: alcohol.index("</section>")]
    assert "<dt>type</dt><dd>float</dd>" in alcohol
    assert "<dt>nulls</dt><dd>2 (1.12 %)</dd>" in alcohol
    assert "<dt>min</dt><dd>11.03</dd>" in alcohol and "<dt>max</dt><dd>42</dd>" in alcohol
    assert alcohol.count("<rect") == 20  # the histogram's bins, drawn from every value (no sample note)
    assert "sample of" not in alcohol
    magnesium = page[page.index("<h3>magnesium</h3>") :]
    assert "<dt>unparseable</dt><dd>1 (0.56 %)</dd>" in magnesium[: magnesium.index("</section>")]
    target = page[page.index("<h3>target</h3>") :]
    target = target[: target.index("</section>")]
    assert "<dt>distinct</dt><dd>4</dd>" in target and "<code>7</code>" in target


def test_a_hostile_file_renders_as_text_in_cells_column_names_and_the_file_name() -> None:
    contract = _wine_contract()
    report = validate(_read(_faulty_wine(), contract), contract, file_name=HOSTILE_FILE)
    page = _page(report)

    tags = _Tags()
    tags.feed(page)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert not [name for name in tags.attributes if name.startswith("on")]
    assert "&lt;script&gt;alert(&#x27;cell&#x27;)&lt;/script&gt;" in page  # the cell, in the note column's values
    assert "&lt;img src=x onerror=alert(&#x27;column&#x27;)&gt;" in page  # the undeclared column, named
    assert "<title>Validation report: &lt;script&gt;alert(&#x27;file&#x27;)&lt;/script&gt;.csv</title>" in page


def test_a_large_file_draws_its_histograms_from_a_bounded_sample_and_says_so() -> None:
    rng = np.random.default_rng(4)
    rows = EXACT_DISTINCT_ROWS + 50_000
    frame = pd.DataFrame({"x": rng.normal(0, 1, rows), "code": [f"K{i}" for i in rng.integers(0, 5000, rows)]})
    frame.loc[7, "x"] = 1e6  # the range counts every row, the sample need not hold it
    contract = load_contract(
        "dataset: big\nversion: 1\ncolumns:\n  - {name: x, type: float}\n  - {name: code, type: string}\n",
        source="big.yaml",
    )
    report = validate(frame, contract, file_name="big.csv")
    number, text = report.profiles
    assert len(number.sample) <= SAMPLE_SIZE and number.sampled_from == rows
    page = _page(report)
    assert f"sample of {len(number.sample):,} of {rows:,} values" in page
    assert "<dt>max</dt><dd>1e+06</dd>" in page
    # Past EXACT_DISTINCT_ROWS a text column's distinct values are counted in its sample only, as said.
    assert text.distinct is None
    assert f"{len(set(text.sample)):,} among 1,000 sampled values (not counted in full)" in page
    assert len(page) < 30_000


def test_a_wide_file_draws_a_bounded_number_of_columns_and_names_the_rest() -> None:
    width = MAX_COLUMNS_DRAWN + 30
    frame = pd.DataFrame({f"c{i}": np.arange(50) for i in range(width)})
    contract = load_contract("dataset: wide\nversion: 1\ncolumns:\n  - {name: c0, type: int}\n", source="wide.yaml")
    page = _page(validate(frame, contract, file_name="wide.csv"))
    assert page.count("<svg") < MAX_COLUMNS_DRAWN * 11  # bars of ten values at most per text column
    assert f"30 more columns not drawn (the page draws at most {MAX_COLUMNS_DRAWN})" in page
    assert "<h3>c99</h3>" in page and "<h3>c100</h3>" not in page


def test_a_partitioned_version_draws_the_same_counts_and_ranges_as_the_single_file() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.loc[[3, 300], "mean radius"] = np.nan
    columns = "\n".join(f"  - {{name: '{c}', type: float, nullable: true}}" for c in frame.columns[:-1])
    contract = load_contract(
        f"dataset: cancer\nversion: 1\ncolumns:\n{columns}\n  - {{name: target, type: int}}\n", source="cancer.yaml"
    )
    single = validate(frame, contract, file_name="cancer.csv")
    parts = validate_parts([frame.iloc[i : i + 150] for i in range(0, len(frame), 150)], contract)
    merged = parts.report.profiles
    assert [p.name for p in merged] == [p.name for p in single.profiles]
    for one, many in zip(single.profiles, merged, strict=True):
        assert (many.rows, many.nulls, many.minimum, many.maximum) == (one.rows, one.nulls, one.minimum, one.maximum)
        assert many.sampled_from == one.sampled_from
    page = _page(parts.report)
    assert "<dt>nulls</dt><dd>2 (0.35 %)</dd>" in page
    # The profiles are the page's, not the JSON report's: the report's bytes stay the single file's.
    assert "profiles" not in parts.report.to_json()


def test_a_file_no_row_of_which_was_read_gets_a_page_saying_why() -> None:
    document = {
        "dataset": "wine",
        "file": HOSTILE_FILE,
        "accepted": False,
        "file_problem": {"code": "unreadable", "message": f"line 3: {HOSTILE}"},
        "results": [],
    }
    page = validation_report_html(document)
    assert "Why no row was checked" in page and "unreadable" in page
    assert "<script>" not in page


def test_dates_and_flags_draw_too_dates_on_their_own_scale() -> None:
    frame = pd.DataFrame(
        {
            "seen": ["2024-01-05", "2024-03-01", "not a date", None, "2025-12-31"],
            "active": ["true", "false", "true", "maybe", None],
        }
    )
    contract = load_contract(
        "dataset: d\nversion: 1\ncolumns:\n  - {name: seen, type: datetime, nullable: true}\n"
        "  - {name: active, type: bool, nullable: true}\n",
        source="d.yaml",
    )
    report = validate(_read(frame, contract), contract, file_name="d.csv")
    page = _page(report)
    seen = page[page.index("<h3>seen</h3>") :]
    seen = seen[: seen.index("</section>")]
    assert "<dt>min</dt><dd>2024-01-05T00:00:00Z</dd>" in seen and "<dt>max</dt><dd>2025-12-31T00:00:00Z</dd>" in seen
    assert "<dt>unparseable</dt><dd>1 (20.00 %)</dd>" in seen and seen.count("<rect") == 20
    active = page[page.index("<h3>active</h3>") :]
    active = active[: active.index("</section>")]
    assert "<code>true</code>" in active and "<code>false</code>" in active and "maybe" not in active


def test_many_failed_expectations_draw_a_bounded_number_in_full_and_list_the_rest() -> None:
    width = MAX_FAILED_DRAWN + 30
    frame = pd.DataFrame({f"c{i}": -np.arange(1, 41) for i in range(width)})  # every value below its minimum
    columns = "\n".join(f"  - {{name: c{i}, type: int, min: 0}}" for i in range(width))
    contract = load_contract(f"dataset: many\nversion: 1\ncolumns:\n{columns}\n", source="many.yaml")
    page = _page(validate(frame, contract, file_name="many.csv"))
    assert page.count("<section class='error'>") == MAX_FAILED_DRAWN
    assert f"30 more failed expectations, without their example rows (the page draws {MAX_FAILED_DRAWN}" in page
    assert f"<tr><td>column &#x27;c{width - 1}&#x27; min ≥ 0</td><td>error</td>" in page  # the last, listed


def test_a_small_files_distinct_count_is_exact_not_called_a_sample() -> None:
    # A stranger's 50-row file read "distinct 9 among 50 sampled values (not counted in full)": every
    # value was in the sample, so the count is the column's.
    contract = load_contract(
        "dataset: small\nversion: 1\nextra_columns: warn\ncolumns:\n  - {name: x, type: float}\n",
        source="small.yaml",
    )
    frame = pd.DataFrame({"x": np.arange(50.0), "notes": [f"note {i % 9}" for i in range(50)]})
    report = validate(_read(frame, contract), contract, file_name="small.csv")
    page = _page(report)
    assert "not counted in full" not in page
    assert "<dt>distinct</dt><dd>9</dd>" in _section(page, "notes")
