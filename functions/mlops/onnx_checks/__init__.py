"""The training pipeline's checks of an exported model in onnxruntime, as serving will run it: parity
with scikit-learn's answers (the comparison and the step), and the champion's answers on a run's
test rows. Apart from `mlops.training` on purpose: the parity and score-champion functions carry the
inference layer (onnxruntime, numpy), which has neither scikit-learn nor PyYAML."""
