"""The training pipeline's checks of an exported model in onnxruntime, as serving will run it: parity
with scikit-learn's answers (the comparison and the step), and the champion's answers on a run's
test rows. Apart from `mlops.training` on purpose: the parity and score-champion functions carry the
inference layer (onnxruntime, numpy), which has neither scikit-learn nor PyYAML.

- `parity`: the comparison of ONNX and scikit-learn answers, on arrays only, and each attempt's record;
- `champion_scores`: the champion's answers on a run's test rows, as stored for the gate;
- `steps`: the parity and score-champion steps as the pipeline runs them.
"""
