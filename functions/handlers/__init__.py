"""Thin Lambda handlers: parse the event, call the core, shape the response.

Each reads its settings (one frozen dataclass) and builds its clients once per container, on the
first invocation (`settings.py`): importing a handler reads no environment and makes no client.
"""
