"""Parameter pytrees <-> flat {path: array} dicts, the form stored in .npz files."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def flatten(tree: Any) -> dict[str, np.ndarray]:
    """Pytree -> {jax keystr path: numpy array}."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def unflatten(template: Any, flat: dict[str, np.ndarray], where: str, cast_dtype: bool = False) -> Any:
    """Rebuild a pytree shaped like `template` (arrays or ShapeDtypeStructs) from `flat`.

    A missing array, a wrong shape, or (unless cast_dtype) a wrong dtype raises ValueError naming `where`
    and the array path.
    """
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for p, ref in paths:
        k = jax.tree_util.keystr(p)
        if k not in flat:
            raise ValueError(f"{where}: missing array {k!r}")
        a = np.asarray(flat[k])
        shape, dtype = np.shape(ref), jnp.asarray(ref).dtype if not hasattr(ref, "dtype") else ref.dtype
        if a.shape != shape:
            raise ValueError(f"{where}: array {k!r} has shape {a.shape}, expected {shape}")
        if a.dtype != dtype and not cast_dtype:
            raise ValueError(f"{where}: array {k!r} has dtype {a.dtype}, expected {dtype}")
        leaves.append(jnp.asarray(a, dtype=dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)
