"""Dataset file format: round trip, and one clear error per kind of corruption or mismatch."""
import json

import jax
import numpy as np
import pytest

from envs import dataset_io as dio
from envs.mujoco import token_policy as tp

SIZES = {"n_pairs": 6, "horizon": 4, "obs_dim": 5, "act_dim": 2, "n_bins": 7, "nq": 3, "nv": 3, "n_sft": 10}


def _synthetic():
    rng = np.random.default_rng(0)
    s = SIZES
    pairs = {}
    for name, (shape, dtype) in dio.pair_schema(s).items():
        if dtype == "float32":
            pairs[name] = rng.normal(size=shape).astype(np.float32)
        elif dtype == "int32":
            pairs[name] = rng.integers(0, s["n_bins"], size=shape).astype(np.int32)
        else:
            pairs[name] = np.zeros(shape, bool)
    for side in ("chosen", "rejected"):
        length = rng.integers(1, s["horizon"] + 1, size=s["n_pairs"]).astype(np.int32)
        mask = np.arange(s["horizon"])[None] < length[:, None]
        pairs[f"{side}_length"] = length
        pairs[f"{side}_mask"] = mask
        pairs[f"{side}_reward"] = (pairs[f"{side}_reward"] * mask).astype(np.float32)
        pairs[f"{side}_return"] = pairs[f"{side}_reward"].sum(-1).astype(np.float32)
    pairs["p_chosen"] = rng.uniform(size=s["n_pairs"]).astype(np.float32)
    sft = {"sft_obs": rng.normal(size=(s["n_sft"], s["obs_dim"])).astype(np.float32),
           "sft_tokens": rng.integers(0, s["n_bins"], size=(s["n_sft"], s["act_dim"])).astype(np.int32)}
    spec = tp.TokenPolicySpec(obs_dim=s["obs_dim"], act_dim=s["act_dim"], n_bins=s["n_bins"], hidden=(4,),
                              action_low=-1.0, action_high=1.0, obs_mean=(0.0,) * 5, obs_std=(1.0,) * 5)
    params = tp.init_params(spec, jax.random.PRNGKey(0))
    manifest = {
        "task": {"name": "hopper", "obs_size": s["obs_dim"], "action_size": s["act_dim"]},
        "sizes": dict(s), "properties": {"setting": "synthetic"}, "seed": 0, "versions": {},
        "reference": {"spec": spec.to_json(), "normalized_score": 0.0},
    }
    return manifest, pairs, sft, params


@pytest.fixture
def saved(tmp_path):
    manifest, pairs, sft, params = _synthetic()
    d = dio.save_dataset(tmp_path / "ds", manifest, pairs, sft, params)
    return d


def _rewrite_npz(path, mutate):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    mutate(arrays)
    np.savez(path, **arrays)


def test_round_trip(saved):
    ds = dio.load_dataset(saved)
    manifest, pairs, sft, params = _synthetic()
    for k, v in pairs.items():
        np.testing.assert_array_equal(ds.pairs[k], v)
    for a, b in zip(jax.tree.leaves(ds.reference_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert ds.manifest["checksum"] == dio.load_dataset(saved).manifest["checksum"]


def test_write_refuses_to_overwrite(saved):
    manifest, pairs, sft, params = _synthetic()
    before = (saved / dio.MANIFEST).read_text()
    with pytest.raises(FileExistsError, match="already exists"):
        dio.save_dataset(saved, manifest, pairs, sft, params)
    assert (saved / dio.MANIFEST).read_text() == before
    dio.save_dataset(saved, manifest, pairs, sft, params, overwrite=True)
    dio.load_dataset(saved)


def test_write_refuses_invalid_data(tmp_path):
    manifest, pairs, sft, params = _synthetic()
    pairs["chosen_tokens"][0, 0, 0] = SIZES["n_bins"]
    with pytest.raises(dio.DatasetError, match="out of range"):
        dio.save_dataset(tmp_path / "bad", manifest, pairs, sft, params)
    assert not (tmp_path / "bad").exists()


def test_missing_array(saved):
    _rewrite_npz(saved / dio.PAIRS_FILE, lambda a: a.pop("rejected_tokens"))
    with pytest.raises(dio.DatasetError, match=r"pairs\.npz: missing array 'rejected_tokens'"):
        dio.load_dataset(saved)


def test_wrong_shape(saved):
    _rewrite_npz(saved / dio.PAIRS_FILE, lambda a: a.update(chosen_obs=a["chosen_obs"][:, :3]))
    with pytest.raises(dio.DatasetError, match=r"array 'chosen_obs' has shape \(6, 3, 5\), expected \(6, 4, 5\)"):
        dio.load_dataset(saved)


def test_wrong_dtype(saved):
    _rewrite_npz(saved / dio.PAIRS_FILE, lambda a: a.update(chosen_tokens=a["chosen_tokens"].astype(np.int64)))
    with pytest.raises(dio.DatasetError, match=r"array 'chosen_tokens' has dtype int64, expected int32"):
        dio.load_dataset(saved)


def test_token_out_of_range(saved):
    def bad(a):
        a["sft_tokens"][3, 1] = -1
    _rewrite_npz(saved / dio.SFT_FILE, bad)
    with pytest.raises(dio.DatasetError, match=r"sft\.npz: array 'sft_tokens' has token -1 out of range \[0, 7\) "
                                               r"at index \(3, 1\)"):
        dio.load_dataset(saved)


def test_checksum_mismatch(saved):
    def bad(a):
        a["chosen_return"] = a["chosen_return"].copy()
        a["chosen_reward"][0, 0] += 1.0
        a["chosen_return"][0] += 1.0
    _rewrite_npz(saved / dio.PAIRS_FILE, bad)
    with pytest.raises(dio.DatasetError, match=r"checksum mismatch for array 'chosen_re"):
        dio.load_dataset(saved)


def test_manifest_size_mismatch(saved):
    m = json.loads((saved / dio.MANIFEST).read_text())
    m["sizes"]["n_bins"] = 9
    (saved / dio.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(dio.DatasetError, match=r"reference\.spec\.n_bins=7 does not match sizes\.n_bins=9"):
        dio.load_dataset(saved)


def test_manifest_missing_field(saved):
    m = json.loads((saved / dio.MANIFEST).read_text())
    del m["checksum"]
    (saved / dio.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(dio.DatasetError, match="missing field\\(s\\) checksum"):
        dio.load_dataset(saved)


def test_missing_file_and_unreadable_npz(saved):
    (saved / dio.SFT_FILE).unlink()
    with pytest.raises(dio.DatasetError, match=r"sft\.npz: file missing"):
        dio.load_dataset(saved)
    (saved / dio.SFT_FILE).write_bytes(b"not a zip")
    with pytest.raises(dio.DatasetError, match=r"sft\.npz: cannot be read"):
        dio.load_dataset(saved)


def test_mask_length_inconsistency(saved):
    def bad(a):
        a["rejected_length"] = a["rejected_length"].copy()
        a["rejected_length"][2] = 0
    _rewrite_npz(saved / dio.PAIRS_FILE, bad)
    with pytest.raises(dio.DatasetError, match=r"rejected_length\[2\]=0 but rejected_mask\[2\]"):
        dio.load_dataset(saved)


def test_reference_params_missing(saved):
    _rewrite_npz(saved / dio.REFERENCE_FILE, lambda a: a.pop(sorted(a)[0]))
    with pytest.raises(dio.DatasetError, match=r"reference\.npz: missing array"):
        dio.load_dataset(saved)
