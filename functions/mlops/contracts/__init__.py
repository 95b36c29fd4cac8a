"""Data contracts for dataset uploads: the contract model, reading, validation, reports and drafting.

The pure core of ingestion (pandas, numpy, pyarrow, pydantic and PyYAML only; no AWS):
`mlops.datasets.ingestion` reads the upload with ``read_table``, checks it with ``validate`` and
keeps the report and, if accepted, the frame (``check_file`` does both for bytes in hand).

- `model`: the contract's shape (columns, expectations, policies) and the rules between its fields;
  `loading`: a contract's YAML or JSON read, each problem named by its path; `schema`: its JSON Schema.
- `reading`: an upload (CSV, gzip CSV, Parquet) read into a frame; `coercion`: text converted to a
  column's type, keeping the cells that do not convert.
- `validation`: a frame checked against its contract (``validate``, ``check_file``), column by column;
  `column_view`: a column parsed once for its checks; `checks`: what each expectation checks;
  `duplicates`: repeated values and rows (``unique``, ``duplicate_rows``).
- `report`: the validation report; `profile`: each column's counts, range and bounded sample, taken
  from its view; `report_page`: the report as a self-contained HTML page; `drafting`: a first
  contract drafted from a sample, and any contract written back as YAML.
"""

from mlops.contracts.column_view import parsed_column
from mlops.contracts.drafting import draft_contract, render_contract_yaml
from mlops.contracts.loading import load_contract, parse_contract
from mlops.contracts.model import (
    ColumnSpec,
    ContractError,
    DataContract,
    DistributionExpectation,
    Expectation,
    contract_json_schema,
)
from mlops.contracts.reading import FileProblem, read_table
from mlops.contracts.report import Example, ExpectationResult, FileProblemInfo, ValidationReport
from mlops.contracts.validation import check_file, validate

__all__ = [
    "ColumnSpec",
    "ContractError",
    "DataContract",
    "DistributionExpectation",
    "Example",
    "Expectation",
    "ExpectationResult",
    "FileProblem",
    "FileProblemInfo",
    "ValidationReport",
    "check_file",
    "contract_json_schema",
    "draft_contract",
    "load_contract",
    "parse_contract",
    "parsed_column",
    "read_table",
    "render_contract_yaml",
    "validate",
]
