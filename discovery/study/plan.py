"""What the discovery study runs: target settings, the search variant and budget, selection, transfer."""
from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from discovery.schema import error_line

# The staged search's first stage: the coefficients a DPO-like loss is most often tuned on (its scale beta,
# length normalization, reference weight, the link's shape, an SFT term, a target margin) and the two
# temporal slopes TA-MPO found useful; 14 coordinates instead of 53.
SUBSPACE_FIELDS = ("lam", "c_ref", "log_beta", "gamma", "link_w", "w_sft")
SUBSPACE_TEMPORAL = ("log_beta", "w_sft")

# The search protocols the variant table compares (issue 16: start fitness, generation-0 mean, final ES mean
# and the selected loss on validation seeds). sigma is in units of each coordinate's box.
VARIANTS: dict[str, dict[str, Any]] = {
    "isotropic": {"sigma": 0.1, "trust_region": None, "fields": None, "temporal": None},
    "trust": {"sigma": 0.1, "trust_region": 0.3, "fields": None, "temporal": None},
    "subspace": {"sigma": 0.1, "trust_region": 0.3, "fields": list(SUBSPACE_FIELDS),
                 "temporal": list(SUBSPACE_TEMPORAL)},
    # three coordinates (length normalization, scale, SFT weight): few enough that a generation's pooled
    # evaluations can resolve differences (the notes' "what would change it", tested with 4x the seeds)
    "small": {"sigma": 0.1, "trust_region": 0.3, "fields": ["lam", "log_beta", "w_sft"], "temporal": []},
    # the same three with a wide isotropic step (no trust region): can it travel lam 0 -> 1, DPO -> LN-DPO?
    # (with the trust region, 8 generations from tuned DPO moved lam 0 -> 0.022)
    "small-wide": {"sigma": 0.3, "trust_region": None, "fields": ["lam", "log_beta", "w_sft"], "temporal": []},
    # the staged search's second stage: the full vector, from the final loss of the subspace search
    "staged": {"sigma": 0.1, "trust_region": 0.3, "fields": None, "temporal": None, "after": "subspace"},
}

TARGETS = ("clean", "noisy-0.2", "noisy-0.3", "mixed-quality", "high-temperature")
DPO = "sigmoid"  # the baseline every setting reports, and the transfer matrix's reference point
BEST = "best"  # `start`: the panel loss with the best tuned validation score on the target setting


@dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class StudyPlan:
    task: str = "hopper"
    targets: tuple[str, ...] = Field(default=TARGETS, min_length=1)
    variant: str = "subspace"  # the protocol of every target's search (chosen by the variant table)
    variant_setting: str = "noisy-0.3"  # where the variant table is measured
    variants: tuple[str, ...] = ("isotropic", "trust", "subspace", "staged")
    # Sized for a 2-core CPU: 9 candidates (8 + the control) x 2 seeds x 8 generations = 144 inner runs of
    # 200 steps x 32 pairs per search, about 4 minutes here; the whole study fits in about 1.5 hours.
    population: int = Field(default=8, ge=2)
    generations: int = Field(default=8, ge=1)
    seeds: int = Field(default=2, ge=1)  # inner seeds per candidate per generation
    episodes: int = Field(default=4, ge=1)  # evaluation episodes per inner run during the search
    top_k: int = Field(default=4, ge=0)
    select_seeds: int = Field(default=8, ge=1)
    select_episodes: int = Field(default=8, ge=1)
    # the search starts at this panel loss's tuned point (beta, learning rate); "best": the best tuned panel loss
    # of the target (by validation), so the search must improve on the strongest known loss, and returns it if
    # it cannot. The variant table starts at tuned DPO (variant_start), where issue 16 measured the failure.
    start: str = BEST
    variant_start: str = DPO
    transfer_tasks: tuple[str, ...] = ("walker2d",)  # the same settings there, where their datasets exist
    text_setting: str | None = "length-biased"  # text-domain transfer target (its own DPO tuning)
    seed: int = 0

    @field_validator("variant")
    @classmethod
    def _variant(cls, v: str) -> str:
        if v not in VARIANTS:
            raise ValueError("one of " + ", ".join(VARIANTS))
        return v

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(x not in VARIANTS for x in v):
            raise ValueError("names from " + ", ".join(VARIANTS))
        return v

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def study_plan(**fields: Any) -> StudyPlan:
    """The plan, validated (pydantic strict); one ValueError names the field, what it got, what is allowed."""
    try:
        return StudyPlan(**fields)
    except ValidationError as e:
        raise ValueError(error_line(e.errors()[0], "study: ")) from None


