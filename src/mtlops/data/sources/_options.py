"""`data.options` for the example sources: a free dict in the schema, checked here by each source.

A source declares a pydantic model of its options; a typo or a bad value fails with one line naming
`data.options.<key>` and what is allowed, like the rest of params.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.schema import Config

O = TypeVar("O", bound=BaseModel)


class SourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_options(model: type[O], cfg: Config) -> O:
    """`cfg.data.options` validated against `model`; DataError naming the key on a mistake."""
    try:
        return model.model_validate(cfg.data.options)
    except ValidationError as err:
        e = err.errors()[0]
        key = "".join(f".{p}" for p in e["loc"])
        if e["type"] == "extra_forbidden":
            msg = f"unknown key; allowed: {sorted(model.model_fields)}"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        raise DataError(f"data.options{key} (source {cfg.data.source!r}): {msg}") from None
