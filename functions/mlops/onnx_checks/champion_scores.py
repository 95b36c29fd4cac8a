"""The champion's answers on a run's test rows, so the quality gate compares challenger and champion
on the same rows instead of each on its own test split (a different split can hide a regression).

The score-champion step (inference layer) writes them: it runs the champion's ONNX model, through
the same request encoding serving uses, on the raw test rows prepare kept. The evaluate step
(training layer) reads them and scores both models with the training metrics. This module is the
record between the two: numpy and pydantic only, so both layers import it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mlops.datasets.versioning import npz_with_meta, read_npz_with_meta

TEST_ROWS = "test_rows.npz"  # prepare writes the raw test rows (every column) beside splits.npz
FITTED_ROWS = "fitted_rows.npz"  # and the fingerprints of the rows the run fits and selects on
CHAMPION_SCORES = "champion_scores.npz"
# The champion is scored on at most this many test rows (the first ones of the shuffled split): it
# bounds the step's memory (rows become request records) and time; the gate says how many it used.
MAX_SCORED_ROWS = 50_000


class ChampionScores(BaseModel):
    """What the champion answered on each test row it could score. `version` None: no champion."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    version: int | None
    test_rows: int = Field(description="rows in the run's test split")
    kind: Literal["classification", "regression"] | None = None
    scored: Any = Field(default=None, description="bool per test row: the champion answered it")
    classes: list[str] | None = Field(default=None, description="the champion's class values, as text")
    labels: Any | None = Field(default=None, description="classification: its class index, per scored row")
    probabilities: Any | None = Field(default=None, description="classification: rows x its classes")
    values: Any | None = Field(default=None, description="regression: its prediction, per scored row")
    unscored: dict[str, int] = Field(default_factory=dict, description="why rows were not scored -> rows")
    caveat: str | None = Field(default=None, description="what limits the comparison beyond the rows left out")

    @property
    def rows(self) -> int:
        return int(np.count_nonzero(self.scored)) if self.scored is not None else 0

    def to_bytes(self) -> bytes:
        arrays = {name: getattr(self, name) for name in ("scored", "labels", "probabilities", "values")}
        described = {"version", "test_rows", "kind", "classes", "unscored", "caveat"}
        return npz_with_meta(arrays, self.model_dump(include=described))

    @classmethod
    def from_bytes(cls, data: bytes) -> ChampionScores:
        meta, arrays = read_npz_with_meta(data)
        return cls.model_validate({**meta, **arrays})

    def basis(self) -> str:
        """How the comparison was made, for the gate's message and the report."""
        if self.version is None:
            return "no champion"
        unscored = "; ".join(f"{rows:,} not scored: {reason}" for reason, rows in sorted(self.unscored.items()))
        notes = "; ".join(note for note in (unscored, self.caveat) if note)
        return f"champion v{self.version} on {self.rows:,} of this run's {self.test_rows:,} test rows" + (
            f" ({notes})" if notes else ""
        )
