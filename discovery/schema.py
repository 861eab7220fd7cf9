"""The search config's typed schema (pydantic v2, strict): ints are ints (never bools or floats), floats
accept ints and are stored as floats, bools are bools, unknown keys are refused. One schema validates config
files, `--set` overrides, configs built in code and a resumed run's config.json, and every error names the
key, what it got and what is allowed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from discovery.strategies import STRATEGIES

REPO = Path(__file__).resolve().parent.parent


class _Block(BaseModel):
    # allow_inf_nan=False: JSON's NaN/Infinity literals (and `--set x=Infinity`) are not numbers a run can use
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Strategy(_Block):
    name: Literal[STRATEGIES]  # type: ignore[valid-type]
    population: int = Field(ge=2)
    sigma: float = Field(gt=0)  # in units of each coordinate's box
    control: bool  # evaluate the start on every generation's keys (a paired control, logged)
    trust_region: float | None = Field(gt=0)  # null: isotropic sigma; else see discovery/trust_region.py


class Loss(_Block):
    init: str
    init_hparams: dict[str, float]
    fields: list[str] | None
    temporal: list[str] | None
    start_from: str | None  # a finished run directory (see discovery/config.py DEFAULTS)

    @field_validator("start_from")
    @classmethod
    def _run(cls, v: str | None) -> str | None:
        # as discovery.config.resolve_path (not imported: config imports this module)
        path = Path(v) if v is not None and (Path(v).is_absolute() or Path(v).exists()) else REPO / str(v)
        if v is not None and not all((path / f).is_file() for f in ("config.json", "best.json")):
            raise ValueError("null or a finished run directory (with config.json and best.json)")
        return v

    @field_validator("init")
    @classmethod
    def _point(cls, v: str) -> str:
        from search_spaces.points import point_names

        if v not in point_names():
            raise ValueError("a zoo loss that is an MPO point: " + ", ".join(point_names()))
        return v

    @field_validator("fields", "temporal")
    @classmethod
    def _fields(cls, v: list[str] | None) -> list[str] | None:
        from search_spaces.mpo import FIELDS

        if v is not None and any(f not in FIELDS for f in v):
            raise ValueError("null (default) or a list of: " + ", ".join(FIELDS))
        return v


class Inner(_Block):
    steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    max_grad_norm: float = Field(gt=0)


class Eval(_Block):
    episodes: int = Field(ge=1)
    episode_length: int | None = Field(ge=1)
    heldout_fraction: float = Field(gt=0, lt=1)
    greedy: bool
    prompts: int = Field(ge=1)  # held-out prompts per evaluation on text datasets


class Select(_Block):
    top_k: int = Field(ge=0)  # 0: no re-evaluation, the best search-time candidate is the final loss
    seeds: int = Field(ge=1)
    episodes: int = Field(ge=1)


class Report(_Block):
    baselines: list[str]
    seeds: int = Field(ge=2)
    episodes: int = Field(ge=1)

    @field_validator("baselines")
    @classmethod
    def _zoo(cls, v: list[str]) -> list[str]:
        from search_spaces.registry import zoo_names

        if any(n not in zoo_names() for n in v):
            raise ValueError("zoo losses: " + ", ".join(zoo_names()))
        return v


class SearchConfig(_Block):
    name: str
    seed: int
    datasets: list[str] = Field(min_length=1)  # one or several; fitness is the mean over them
    generations: int = Field(ge=1)
    seeds: int = Field(ge=1)  # inner seeds per candidate
    chunk: int = Field(ge=0)  # candidates per device trained at a time; 0 = all at once
    eval_chunk: int = Field(ge=0)  # candidates per device evaluated at a time; 0 = all at once
    strategy: Strategy
    loss: Loss
    inner: Inner
    eval: Eval
    select: Select
    report: Report


def error_line(err: dict[str, Any], prefix: str = "config: ") -> str:
    """One pydantic error as this project's one error form: "PREFIX key: got X; allowed: Y"."""
    key = ".".join(str(p) for p in err["loc"])
    allowed = err["msg"].removeprefix("Value error, ")
    ctx = err.get("ctx") or {}
    plain = {"greater_than_equal": "an integer >= {ge}" if isinstance(ctx.get("ge"), int) else "a number >= {ge}",
             "greater_than": "a number > {gt}", "less_than": "a number < {lt}",
             "too_short": "a non-empty list" if ctx.get("min_length", 1) == 1 else "a list of at least {min_length} items",
             "int_type": "an integer", "float_type": "a number", "finite_number": "a finite number", "bool_type": "true or false",
             "string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
             "literal_error": "one of {expected}"}
    if err["type"] in plain:
        allowed = plain[err["type"]].format(**ctx)
    elif err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{prefix}unknown key '{key}'"
    elif err["type"] == "missing":
        return f"{prefix}{key} is missing (a config written by an older version?)"
    return f"{prefix}{key}: got {err['input']!r}; allowed: {allowed}"


def check(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config with its types fixed by the schema (e.g. sigma 5 -> 5.0); raises one ValueError naming the
    first bad key."""
    try:
        return SearchConfig.model_validate(cfg).model_dump()
    except ValidationError as e:
        raise ValueError(error_line(e.errors()[0])) from None
