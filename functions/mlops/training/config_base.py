"""What every part of the training config shares: a frozen model that refuses unknown fields, and a
field's path as the config's error messages write it (`candidates[1].search.grid.max_depth`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A part of the training config: frozen, and an unknown field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the config writes it: list positions in brackets, keys dotted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out
