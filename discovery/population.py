"""A population of inner runs as one program: candidates x inner seeds x datasets, sharded over devices.

Training and evaluation are separate stages: every candidate trains (in chunks of `chunk` candidates
when set, so the working set of the small policy MLPs stays in cache), then every fine-tuned policy of
the population is evaluated in one wide batch (MJX physics gains most from width). The population axis
is split over a `jax.sharding.Mesh` of all devices, across processes under `jax.distributed`, with
`shard_map`: each device runs the same program on its own candidates. Per-candidate numbers agree
across device counts to float rounding (bitwise when the per-device batch shapes match, e.g. `chunk`
dividing every device's share); the search's ES step is device-count independent (see search.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from discovery.inner import InnerStages
from search_spaces.search_space import SearchSpace, unit_to_params

AXIS = "pop"


def population_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every process)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), (AXIS,))


def check_divisible(population: int, mesh: Mesh | None) -> None:
    n = 1 if mesh is None else mesh.size
    if population % n:
        raise ValueError(f"strategy.population = {population} must be a multiple of the {n} devices the "
                         f"population is sharded over (jax.devices(); on a CPU host, mpo search --cpu-devices)")


def _map(fn: Callable, xs, chunk: int):
    """vmap, or lax.map in batches of `chunk` when that is smaller than the leading axis."""
    n = jax.tree.leaves(xs)[0].shape[0]
    if chunk and chunk < n:
        return jax.lax.map(fn, xs, batch_size=chunk)
    return jax.vmap(fn)(xs)


def make_params_eval(
    stages: Sequence[InnerStages], chunk: int = 0, eval_chunk: int = 0
) -> Callable[..., dict]:
    """`local(params [p] (stacked loss params), keys [S], lr_scale [p] | None) -> metrics`, leaves
    [p, n_datasets, S]: one device's candidates.

    Per candidate and seed the numbers equal `make_inner(...)(params, keys[s], lr_scale)`. All candidates
    see the same inner seeds (common random numbers): their ranking is less noisy than with independent
    seeds, and the minibatch gathers are shared by the whole population. `chunk` / `eval_chunk` > 0 bound
    memory: that many candidates train / evaluate at a time. `lr_scale` gives each candidate its own
    learning rate (a tuning grid); None trains every candidate at the configured one.
    """

    def local(params, keys: jax.Array, lr_scale: jax.Array | None = None) -> dict:
        split = jax.vmap(jax.random.split)(keys)  # as make_inner's run: (k_train, k_eval) per seed
        k_train, k_eval = split[:, 0], split[:, 1]
        per_dataset = []
        for st in stages:
            if lr_scale is None:
                one = lambda p, k, st=st: st.train(p, k)  # noqa: E731
                xs = params
            else:
                one = lambda a, k, st=st: st.train(a[0], k, a[1])  # noqa: E731
                xs = (params, lr_scale)
            # Seeds outermost: inside, the key is one array for every candidate, so the minibatch is too and
            # the first layer of the whole chunk is one wide GEMM (vmapping keys and candidates together
            # broadcast the minibatch to every candidate: the mid bench population ran ~1.45x slower).
            trained, losses = jax.lax.map(lambda k, one=one, xs=xs: _map(lambda x: one(x, k), xs, chunk), k_train)
            trained, losses = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (trained, losses))
            finish = jax.vmap(st.finish)  # over seeds
            per_dataset.append(_map(lambda a, finish=finish: finish(a[0], a[1], k_eval), (trained, losses),
                                    eval_chunk))
        return jax.tree.map(lambda *m: jnp.stack(m, axis=1), *per_dataset)

    return local


def make_local_eval(
    stages: Sequence[InnerStages], space: SearchSpace, chunk: int = 0, eval_chunk: int = 0
) -> Callable[[jax.Array, jax.Array], dict]:
    """`local(xs [p, D], keys [S]) -> metrics`, leaves [p, n_datasets, S]: `make_params_eval` on the
    candidates of the unit cube of the search box."""
    to_params = unit_to_params(space)
    local_params = make_params_eval(stages, chunk, eval_chunk)
    return lambda xs, keys: local_params(jax.vmap(to_params)(xs), keys)


def shard_population(fn: Callable, mesh: Mesh, in_specs, out_specs) -> Callable:
    """`shard_map` over the population axis.

    check_vma=False: with it, the gradient w.r.t. the (device-invariant) reference policy that every
    fine-tuning starts from is transposed into a psum over devices, which mixes candidates' updates.
    """
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def gather_population(tree):
    """Inside `shard_population`: every device's slice of the population -> the whole population."""
    return jax.tree.map(lambda a: jax.lax.all_gather(a, AXIS, tiled=True), tree)


def local_slice(xs: jax.Array, local_size: int) -> jax.Array:
    """Inside `shard_population`: this device's candidates of a replicated population [P, ...]."""
    return jax.lax.dynamic_slice_in_dim(xs, jax.lax.axis_index(AXIS) * local_size, local_size)


def make_population_eval(
    stages: Sequence[InnerStages], space: SearchSpace, n_seeds: int, chunk: int = 0, eval_chunk: int = 0,
    mesh: Mesh | None = None,
) -> Callable[[jax.Array, jax.Array], dict]:
    """`eval_pop(xs [P, D], key) -> metrics`, leaves [P, n_datasets, n_seeds], the population split
    over `mesh` (see `make_local_eval`)."""
    local = make_local_eval(stages, space, chunk, eval_chunk)

    def eval_pop(xs: jax.Array, key: jax.Array) -> dict:
        keys = jax.random.split(key, n_seeds)
        if mesh is None or mesh.size == 1:
            return local(xs, keys)
        check_divisible(xs.shape[0], mesh)
        spec = PartitionSpec(AXIS)
        return shard_population(local, mesh, (spec, PartitionSpec()), spec)(xs, keys)

    return eval_pop
