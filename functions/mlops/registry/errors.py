"""How the registry refuses an operation: one error whose code the API maps to an HTTP status."""

from __future__ import annotations


class RegistryError(Exception):
    """A registry operation was refused; `code` maps to an HTTP status (not_found 404, conflict 409,
    invalid 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
