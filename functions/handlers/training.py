"""Training pipeline steps (filled in with the training core)."""
