"""Thin Lambda handlers: parse the event, call the core, shape the response."""
