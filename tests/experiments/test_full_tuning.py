"""experiments/full_tuning.py: the two protocols' tables are compared loss by loss, paired on the test seeds."""
import numpy as np
import pytest

from experiments.full_tuning import compare


def _row(cells: dict[str, tuple[float, float, float]], scores: dict[str, list[float]], ref: list[float]) -> dict:
    return {"tuned": {n: {"beta": b, "lr": lr, "validation": v} for n, (b, lr, v) in cells.items()},
            "test": {"reference": {"fitness": ref}, **{n: {"fitness": s} for n, s in scores.items()}}}


def test_a_moved_cell_is_a_paired_difference_and_a_kept_one_is_named() -> None:
    ref = list(50.0 + np.arange(8.0))
    two = _row({"sigmoid": (0.03, 3e-3, 83.3), "hinge": (0.03, 1e-3, 87.7)},
               {"sigmoid": [r + 5 for r in ref], "hinge": [r + 24 for r in ref]}, ref)
    full = _row({"sigmoid": (0.03, 1e-3, 91.3), "hinge": (0.03, 1e-3, 87.7)},
                {"sigmoid": [r + 21 + (i % 2) for i, r in enumerate(ref)], "hinge": [r + 24 for r in ref]}, ref)
    lines = compare("high-temperature", two, full)
    sigmoid = next(line for line in lines if line.startswith("| sigmoid"))
    assert "0.03, 3e-03 (83.3) | +5.0 ± 0.0 * | 0.03, 1e-03 (91.3) | +21.5 ± 0.4 * | +16.5 ± 0.4 * |" in sigmoid
    assert next(line for line in lines if line.startswith("| hinge")).endswith("| same cell |")
    assert "1 of 2 losses change their tuned cell (sigmoid)." in lines
    # rows computed on different machines: their references differ, so nothing is paired
    elsewhere = {**full["test"], "reference": {"fitness": [r + 1e-6 for r in ref]}}
    with pytest.raises(ValueError, match="reference scores differ"):
        compare("high-temperature", two, {**full, "test": elsewhere})
