"""Data contracts for dataset uploads: the contract model, reading, validation, reports and drafting.

The pure core of ingestion (pandas, numpy, pyarrow, pydantic and PyYAML only; no AWS): a handler
reads the upload's bytes, calls ``check_file`` and stores the report and, if accepted, the frame.
"""

from mlops.contracts.column_view import parsed_column
from mlops.contracts.drafting import draft_contract, render_contract_yaml
from mlops.contracts.model import (
    ColumnSpec,
    ContractError,
    DataContract,
    DistributionExpectation,
    Expectation,
    contract_json_schema,
    load_contract,
    parse_contract,
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
