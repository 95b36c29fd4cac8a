"""Dataset versions: immutable, content-addressed snapshots of accepted data."""
