"""Long-running load tests: selected by the `soak` marker and run by `make soak`, never by `make test`."""
