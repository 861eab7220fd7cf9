"""The loss registry: every loss the product knows, as an explicit table built from the zoo's specs and
the MPO family's (as evosax builds its algorithm dicts); nothing registers itself on import."""
from __future__ import annotations

from search_spaces.mpo_spec import MPO_SPEC
from search_spaces.spec import LossFn, LossSpec  # noqa: F401 (the registry's public types)
from search_spaces.zoo import ZOO


def _table(specs: tuple[LossSpec, ...]) -> dict[str, LossSpec]:
    table: dict[str, LossSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"loss '{spec.name}' is defined twice")
        table[spec.name] = spec
    return table


REGISTRY: dict[str, LossSpec] = _table((*ZOO, MPO_SPEC))


def get_loss(name: str) -> LossSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown loss '{name}'; known losses: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def loss_names(family: str | None = None) -> list[str]:
    return [n for n, s in REGISTRY.items() if family is None or s.family == family]


def zoo_names() -> list[str]:
    """Every known (published) loss: the registry minus the MPO family itself."""
    return [n for n, s in REGISTRY.items() if s.family != "mpo"]
