"""Tracking beside the JSONL log: TensorBoard event files hold every numeric field of a log line."""
import pytest

from discovery.tracking import make_trackers


def test_tensorboard_writes_every_numeric_field(tmp_path):
    [tb] = make_trackers(["tensorboard", "tensorboard"], tmp_path, {"name": "t"})  # repeated kinds: one tracker
    for g in range(3):
        tb.log({"generation": g, "best": 10.0 + g, "mean": None, "nan_count": 1, "wall_s": 0.5}, g)
    tb.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    raw = events[0].read_bytes()
    for tag in (b"search/best", b"search/nan_count", b"search/wall_s"):
        assert tag in raw
    assert b"search/mean" not in raw and b"search/generation" not in raw  # None and the step are not scalars


def test_unknown_or_missing_trackers_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--log: unknown tracker.*mlflow; allowed: tensorboard, wandb"):
        make_trackers(["mlflow"], tmp_path, {"name": "t"})
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="wandb is not installed|Weights & Biases is not installed"):
            make_trackers(["wandb"], tmp_path, {"name": "t"})
