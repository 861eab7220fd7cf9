"""A flipped copy swaps exactly the drawn pairs (chosen <-> rejected, p_chosen, flipped), keeps everything else
byte for byte, passes the loader's validation, and never overwrites."""
from __future__ import annotations

import numpy as np
import pytest

from envs.dataset_io import load_dataset
from envs.mujoco import tasks
from experiments.flip_realizations import flipped_copy

SRC = tasks.DATA_DIR / "hopper" / "clean-h25"


def test_a_copy_swaps_the_drawn_pairs_and_nothing_else(tmp_path) -> None:
    m = flipped_copy(SRC, tmp_path / "c", 0.5, seed=1)
    a, b = load_dataset(SRC).pairs, load_dataset(tmp_path / "c").pairs
    swap = b["flipped"] != a["flipped"]
    assert swap.sum() == m["derived_from"]["pairs_swapped"] and 0 < swap.sum() < swap.size
    np.testing.assert_array_equal(b["chosen_tokens"][swap], a["rejected_tokens"][swap])
    np.testing.assert_array_equal(b["rejected_return"][swap], a["chosen_return"][swap])
    np.testing.assert_array_equal(b["chosen_tokens"][~swap], a["chosen_tokens"][~swap])
    np.testing.assert_allclose(b["p_chosen"][swap], 1.0 - a["p_chosen"][swap])
    np.testing.assert_array_equal(b["prompt_obs"], a["prompt_obs"])
    assert m["checksum"] != load_dataset(SRC).manifest["checksum"]
    assert m["command"].startswith("python -m experiments.flip_realizations --dataset envs/data/hopper/clean-h25 "
                                   "--eps 0.5 --seeds 1 --out ")
    with pytest.raises(FileExistsError, match="--out"):
        flipped_copy(SRC, tmp_path / "c", 0.5, seed=2)
    with pytest.raises(ValueError, match="eps"):
        flipped_copy(SRC, tmp_path / "d", 0.0, seed=1)
