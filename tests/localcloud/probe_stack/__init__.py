"""A test-only CDK stack with tiny handlers, proving each local-cloud behaviour through a real template."""
