"""Evolution strategies by name (evosax 0.3), working in the unit cube of the search box."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax
from evosax.algorithms import CMA_ES, SNES, Open_ES, Sep_CMA_ES

STRATEGIES = ("cma_es", "sep_cma_es", "open_es", "snes")


def make_strategy(name: str, population: int, dim: int, sigma: float) -> tuple[Any, Any]:
    """(strategy, params) for a population of `dim`-vectors; `sigma` is the initial step size."""
    solution = jnp.zeros((dim,))
    if name == "cma_es":
        es = CMA_ES(population_size=population, solution=solution)
    elif name == "sep_cma_es":
        es = Sep_CMA_ES(population_size=population, solution=solution)
    elif name == "open_es":
        if population % 2:
            raise ValueError(f"strategy.population: open_es needs an even population, got {population}")
        # evosax's default sgd(1e-3) barely moves in a unit box; Adam at half sigma does.
        es = Open_ES(population_size=population, solution=solution, optimizer=optax.adam(0.5 * sigma),
                     std_schedule=optax.constant_schedule(sigma))
        return es, es.default_params
    elif name == "snes":
        es = SNES(population_size=population, solution=solution)
    else:
        raise ValueError(f"strategy.name: unknown strategy '{name}'; allowed: {', '.join(STRATEGIES)}")
    return es, es.default_params.replace(std_init=sigma)


def es_fitness(fitness: jnp.ndarray) -> jnp.ndarray:
    """evosax minimizes: negate; NaN/inf candidates get a value worse than every finite one."""
    bad = ~jnp.isfinite(fitness)
    finite_worst = jnp.max(jnp.where(bad, -jnp.inf, -fitness))
    worst = jnp.where(jnp.isfinite(finite_worst), finite_worst, 0.0) + 1e6
    return jnp.where(bad, worst, -fitness)
