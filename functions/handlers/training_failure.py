"""Training pipeline failure path (filled in with the training core)."""
