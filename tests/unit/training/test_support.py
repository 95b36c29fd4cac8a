"""The training tests' data helpers build what a dataset version stores."""

from __future__ import annotations

from mlops.datasets.versioning import NULL_MASK_PREFIX
from tests.unit.training.support import LOADERS, mixed_dataset, sklearn_dataset, small_config


def test_the_helpers_build_valid_dataset_versions() -> None:
    for name in LOADERS:
        arrays, columns = sklearn_dataset(name)
        assert [c.name for c in columns] == [k for k in arrays if not k.startswith(NULL_MASK_PREFIX)]
    arrays, columns = mixed_dataset()
    assert arrays["city"].dtype.kind == "U" and arrays[f"{NULL_MASK_PREFIX}city"].any()
    assert small_config("regression").candidates[0].estimator == "linear_regression"
