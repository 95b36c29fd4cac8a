"""The contracts and configs shipped in contracts/ and configs/ are what the README tells newcomers to
copy: each must load, accept the scikit-learn data set it was drafted from, and (wine, the multiclass
example) train to a model that passes its own gates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from mlops.contracts import load_contract, read_table, validate
from mlops.training.chain import run_training
from mlops.training.config import load_training_config
from tests.unit.training.support import sklearn_dataset

ROOT = Path(__file__).resolve().parents[2]
LOADERS = {"breast-cancer": load_breast_cancer, "wine": load_wine}


def _frame(dataset: str) -> pd.DataFrame:
    frame = LOADERS[dataset](as_frame=True).frame
    return frame.rename(columns=lambda c: c.replace(" ", "_").replace("/", "_"))


@pytest.mark.parametrize("dataset", sorted(LOADERS))
def test_each_shipped_contract_accepts_the_data_set_it_describes(dataset: str) -> None:
    path = ROOT / "contracts" / f"{dataset}.yaml"
    contract = load_contract(path.read_bytes(), source=str(path))
    assert contract.dataset == dataset
    config = load_training_config((ROOT / "configs" / f"{dataset}.yaml").read_text(), source=dataset)
    assert config.dataset == dataset and config.label == contract.label
    body = _frame(dataset).to_csv(index=False).encode()
    report = validate(read_table(body, filename=f"{dataset}.csv", contract=contract), contract, file_name="x.csv")
    assert report.accepted, report.summary()


def test_every_file_in_contracts_and_configs_is_a_shipped_example() -> None:
    assert {p.stem for p in (ROOT / "contracts").glob("*.yaml")} == set(LOADERS)
    assert {p.stem for p in (ROOT / "configs").glob("*.yaml")} == set(LOADERS)


def test_the_multiclass_example_trains_and_passes_its_gates() -> None:
    arrays, columns = sklearn_dataset("wine")
    config = load_training_config((ROOT / "configs" / "wine.yaml").read_text(), source="configs/wine.yaml")
    run = run_training(arrays, columns, config, latency_repeats=20)
    assert run.gates.passed and run.registrable, [g for g in run.gates.results if not g.passed]
    assert run.evaluation.confusion_matrix is not None and len(run.evaluation.confusion_matrix.labels) == 3
