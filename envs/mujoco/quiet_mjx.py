"""Import mujoco.mjx without its two warp lines: mujoco 3.17's mjx prints "Failed to import warp: ..." and
"Failed to import mujoco_warp: ..." to stdout on every import where the optional GPU `warp` package is
absent (always, on CPU), which lands in every CLI's output. Anything else printed during the import is
passed through."""
from __future__ import annotations

import contextlib
import functools
import io
import sys

_WARP_LINES = ("Failed to import warp:", "Failed to import mujoco_warp:")


@functools.cache
def import_mjx() -> None:
    """Call before the first brax or mujoco.mjx import (later imports are cached and print nothing)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        import mujoco.mjx  # noqa: F401
    for line in buf.getvalue().splitlines():
        if not line.startswith(_WARP_LINES):
            print(line, file=sys.stdout)
