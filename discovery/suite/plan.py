"""What the suite table runs: the panel, the tuning grid, the seeds and the inner-run budget."""
from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from discovery.schema import error_line
from search_spaces.points import point_names

# The panel the suite issue fixes: one loss of each kind the suite's settings should tell apart
# (plain, noise-aware, squared, hinge, reference-free, odds-ratio, length-normalized, discovered).
PANEL = ("sigmoid", "cdpo", "robust", "ipo_sum", "hinge", "simpo", "orpo", "ln_dpo", "discopop")
CONFIRM_FIELDS = ("confirm_cells", "confirm_seeds")  # the second look; the first stage does not depend on them


@dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class SuitePlan:
    # one loss is a panel too (e.g. DPO's noise curve on many seeds); separation is then not claimed
    panel: tuple[str, ...] = Field(default=PANEL, min_length=1)
    # x each loss's published default beta, and absolute learning rates: the grid every loss is tuned on.
    # 6 cells x 9 losses x 4 seeds = 216 inner runs per setting: the tuning of hopper clean took 334 s on
    # this 2-core CPU (shared), so 3e-4 (which moved DPO little in 200 steps) is left out of the default.
    beta_scales: tuple[float, ...] = Field(default=(0.3, 1.0, 3.0), min_length=1)
    learning_rates: tuple[float, ...] = Field(default=(1e-3, 3e-3), min_length=1)
    validation_seeds: int = Field(default=4, ge=1)  # inner runs per grid cell for choosing (stream VALIDATION)
    # A second look before choosing: each loss's `confirm_cells` best cells on the validation seeds are scored
    # again on the next validation seeds, up to `confirm_seeds` in all, and chosen by that mean (the first
    # `validation_seeds` keys of split(VALIDATION, confirm_seeds) are split(VALIDATION, validation_seeds), so a
    # finalist is scored on the very keys a full `confirm_seeds` tuning would use). Why: on hopper clean 4
    # seeds chose DPO at beta 0.03 (validation 112.1, test 90.3); on 12 seeds the same grid chose beta 0.1
    # (110.6 vs 108.7; test 100.8 on 48 seeds, noise_resampled.md). 0: no second look.
    confirm_cells: int = Field(default=0, ge=0)
    confirm_seeds: int = Field(default=12, ge=2)
    test_seeds: int = Field(default=16, ge=2)  # inner runs per tuned loss for the table (stream TEST)
    episodes: int = Field(default=8, ge=1)  # evaluation episodes per inner run
    steps: int = Field(default=200, ge=1)
    batch_size: int = Field(default=32, ge=1)
    chunk: int = Field(default=27, ge=0)  # candidates trained at a time (lax.map batch); 0 = all at once
    seed: int = 0
    baseline: str = "sigmoid"  # the tuned loss every other one is also paired against (DPO)

    @field_validator("panel")
    @classmethod
    def _points(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in v if n not in point_names()]
        if bad:
            raise ValueError("zoo losses that are MPO points: " + ", ".join(point_names()))
        return v

    @field_validator("beta_scales", "learning_rates")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(x <= 0 for x in v):
            raise ValueError("values > 0")
        return v

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def suite_plan(**fields: Any) -> SuitePlan:
    """The plan, validated (pydantic, strict: ints are ints, floats accept ints); one ValueError names the
    field, what it got and what is allowed."""
    try:
        plan = SuitePlan(**fields)
    except ValidationError as e:
        raise ValueError(error_line(e.errors()[0], "suite: ")) from None
    cells = len(plan.beta_scales) * len(plan.learning_rates)
    if plan.confirm_cells > cells:
        raise ValueError(f"suite: confirm_cells: got {plan.confirm_cells}; allowed: 0 to the grid's cells per loss "
                         f"({cells})")
    if plan.confirm_cells and plan.confirm_seeds <= plan.validation_seeds:
        raise ValueError(f"suite: confirm_seeds: got {plan.confirm_seeds}; allowed: more than validation_seeds "
                         f"({plan.validation_seeds}) when confirm_cells > 0")
    if plan.baseline not in plan.panel:
        raise ValueError(f"suite: baseline: got {plan.baseline!r}; allowed: a loss of the panel")
    return plan


def recorded_plan(recorded: dict[str, Any]) -> dict[str, Any]:
    """A result's recorded plan, with the fields added since it was written at their defaults: a plan recorded
    before a field existed ran at that field's default (e.g. no confirmation stage)."""
    return {**SuitePlan().to_json(), **recorded}
