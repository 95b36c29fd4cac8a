"""Training: from a training request to a registered model version, with no AWS in the core.

- `config`: the training config (metric, gates, parity, encoding, serving, monitoring, retraining)
  and reading it; `search_space`: its candidates (estimators, parameters, search); `data_policy`:
  its `data` section (which dataset versions); `config_base`: what the config's parts share.
- `data`: which dataset versions a run trains on, combined; `prepare`: features and splits;
  `features`: the feature recipe (numbers, categories, derived date parts) training and serving share.
- `fit_placement`: where each candidate's fit runs (the fit Lambda or Fargate) and what the run
  records of it; `fargate_fit`: a Fargate fit's outcome, or its failure with the task's last log lines.
- `candidates`: fit and rank candidates; `evaluation`: test-split metrics and the champion
  comparison; `gates`: the quality gates; `onnx_export`: the ONNX model and scikit-learn's answers
  for the parity check (`mlops.onnx_checks`, which runs on the inference layer); `importance`:
  permutation importance of each input field on the test split; `explain_export`: the explanation
  artifact serving computes contributions from.
- `imported`: a model trained elsewhere (ONNX, or scikit-learn via joblib) checked and made a run's
  one candidate (`mlops models import`).
- `signature`: the served input signature; `report`: the run's HTML report.
- `run`: the pipeline's steps as Step Functions runs them; `chain`: the same chain in one process
  (tests and benchmarks); `failures`: a failed run recorded and announced; `start`: starting a run;
  `metric_names`: the metrics a config may name, as plain data.

No names are imported here: each Lambda function imports the modules its layers can load (the
record-failure function has no ML library, the parity function no scikit-learn), and the layer
check (tests/infra/test_handler_imports.py) follows every import a package's `__init__` makes.
"""
