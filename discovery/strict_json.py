"""Strict JSON for every file the project writes and reads back.

Python's json writes NaN and +-inf as the literals NaN / Infinity / -Infinity, which are not JSON: most
parsers refuse them (a best.json with `"fitness_during_search": -Infinity` broke every tool but Python's
own). Here a non-finite number is written as null, numpy scalars and arrays become plain numbers and lists,
and writing is atomic (temporary file + rename), so a kill never leaves half a file behind.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def finite_or_none(x: Any) -> float | None:
    """float(x), or None when x is NaN/inf (JSON's null: "no number")."""
    x = float(x)
    return x if math.isfinite(x) else None


def clean(obj: Any) -> Any:
    """`obj` with non-finite floats as None, numpy scalars/arrays as Python numbers/lists, tuples as lists."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of `obj` (see `clean`); allow_nan=False proves no literal slipped through."""
    return json.dumps(clean(obj), indent=indent, allow_nan=False)


def write(path: Path | str, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` as strict JSON (+ newline) to `path` atomically: a reader sees the old file or the new one."""
    path = Path(path)
    write_text_atomic(path, dumps(obj, indent) + "\n")
    return path


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is None:  # a full disk fails at the flush, with no file named
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
