"""Experiment tracking beside the JSONL log (which stays the source of truth): every generation's log line
as scalars in TensorBoard (tensorboardX, which comes with brax) and, when installed, Weights & Biases."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence

TRACKERS = ("tensorboard", "wandb")


class Tracker(Protocol):
    def log(self, line: dict[str, Any], step: int) -> None: ...

    def close(self) -> None: ...


def _scalars(line: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in line.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "generation"}


class TensorBoard:
    def __init__(self, out: Path) -> None:
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"))

    def log(self, line: dict[str, Any], step: int) -> None:
        for k, v in _scalars(line).items():
            self.writer.add_scalar(f"search/{k}", v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    def __init__(self, out: Path, cfg: dict[str, Any]) -> None:
        try:
            import wandb
        except ImportError:
            raise ValueError("--log wandb: Weights & Biases is not installed (pip install wandb)") from None
        self.run = wandb.init(project="mpo-discovery", name=cfg["name"], config=cfg, dir=str(out), resume="allow",
                              id=out.resolve().name)

    def log(self, line: dict[str, Any], step: int) -> None:
        self.run.log(_scalars(line), step=step)

    def close(self) -> None:
        self.run.finish()


def make_trackers(kinds: Sequence[str], out: Path, cfg: dict[str, Any]) -> list[Tracker]:
    bad = [k for k in kinds if k not in TRACKERS]
    if bad:
        raise ValueError(f"--log: unknown tracker(s) {', '.join(bad)}; allowed: {', '.join(TRACKERS)}")
    return [TensorBoard(out) if k == "tensorboard" else WandB(out, cfg) for k in dict.fromkeys(kinds)]
