"""Named dataset settings: a table of field overrides on a world's dataset config, with one error form."""
from __future__ import annotations

import dataclasses
from typing import Any


def named_config(cls: type, table: dict[str, dict[str, Any]], setting: str, overrides: dict[str, Any],
                 kind: str = "setting", **fixed: Any) -> Any:
    """`cls` built from the named entry of `table` plus field overrides (None values are ignored);
    unknown settings and fields get one error naming what is allowed. Shared by the MuJoCo and text
    dataset settings."""
    if setting not in table:
        raise ValueError(f"setting: unknown {kind} {setting!r}; allowed values: {', '.join(table)}")
    fields = {f.name for f in dataclasses.fields(cls)}
    over = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(over) - fields)
    if bad:
        raise ValueError(f"config: unknown field(s) {', '.join(bad)}; allowed values: {', '.join(sorted(fields))}")
    kw = dict(table[setting])
    kw.update(over)
    return cls(setting=setting, **fixed, **kw)
