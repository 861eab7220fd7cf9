"""What the suite table runs: the panel, the tuning grid, the seeds and the inner-run budget."""
from __future__ import annotations

import dataclasses
from typing import Any

from search_spaces.points import point_names

# The panel the suite issue fixes: one loss of each kind the suite's settings should tell apart
# (plain, noise-aware, squared, hinge, reference-free, odds-ratio, length-normalized, discovered).
PANEL = ("sigmoid", "cdpo", "robust", "ipo_sum", "hinge", "simpo", "orpo", "ln_dpo", "discopop")


@dataclasses.dataclass(frozen=True)
class SuitePlan:
    panel: tuple[str, ...] = PANEL
    # x each loss's published default beta, and absolute learning rates: the grid every loss is tuned on.
    # 6 cells x 9 losses x 4 seeds = 216 inner runs per setting: the tuning of hopper clean took 334 s on
    # this 2-core CPU (shared), so 3e-4 (which moved DPO little in 200 steps) is left out of the default.
    beta_scales: tuple[float, ...] = (0.3, 1.0, 3.0)
    learning_rates: tuple[float, ...] = (1e-3, 3e-3)
    validation_seeds: int = 4  # inner runs per grid cell for choosing (seed stream VALIDATION)
    test_seeds: int = 16  # inner runs per tuned loss for the table (seed stream TEST)
    episodes: int = 8  # evaluation episodes per inner run
    steps: int = 200
    batch_size: int = 32
    chunk: int = 27  # candidates trained at a time (lax.map batch); 0 = all at once
    seed: int = 0
    baseline: str = "sigmoid"  # the tuned loss every other one is also paired against (DPO)

    def __post_init__(self) -> None:
        points = point_names()
        for name, ok, allowed in (
            ("panel", len(self.panel) >= 2 and all(n in points for n in self.panel),
             "at least two zoo losses that are MPO points: " + ", ".join(points)),
            ("beta_scales", len(self.beta_scales) >= 1 and all(b > 0 for b in self.beta_scales), "values > 0"),
            ("learning_rates", len(self.learning_rates) >= 1 and all(lr > 0 for lr in self.learning_rates),
             "values > 0"),
            ("validation_seeds", self.validation_seeds >= 1, ">= 1"),
            ("test_seeds", self.test_seeds >= 2, ">= 2 (for an interval)"),
            ("episodes", self.episodes >= 1, ">= 1"),
            ("steps", self.steps >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("chunk", self.chunk >= 0, ">= 0"),
            ("baseline", self.baseline in self.panel, "a loss of the panel"),
        ):
            if not ok:
                raise ValueError(f"suite.{name}: got {getattr(self, name)!r}; allowed: {allowed}")

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
