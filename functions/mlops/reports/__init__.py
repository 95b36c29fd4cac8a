"""Pages for people: the lifecycle report, one self-contained HTML page per model."""
