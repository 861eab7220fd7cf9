"""Text datasets in the shared file format: round trip, and one clear error per kind of bad input."""
import json
import shutil

import jax
import numpy as np
import pytest

from envs import dataset_io
from envs.dataset_io import DatasetError, load_dataset, save_dataset
from tests.helpers import DATA

TEXT = DATA / "text"


@pytest.fixture(scope="module")
def clean():
    return load_dataset(TEXT / "clean")


def test_shipped_text_datasets_load_and_record_how_they_were_made():
    for setting in ("clean", "noisy", "length-biased", "mixed-quality"):
        ds = load_dataset(TEXT / setting)
        m = ds.manifest
        assert ds.domain == "text" and m["properties"]["setting"] == setting
        assert m["command"].startswith("mpo data make --task text --setting " + setting)
        assert m["generation_wall_time_s"] > 0
        assert m["task"]["random_reward"] < m["task"]["sft_reward"] < m["task"]["optimal_reward"]
    total = sum(f.stat().st_size for f in TEXT.rglob("*") if f.is_file())
    assert total < 4e6, total  # shipped small


def test_text_round_trip_is_exact_and_refuses_to_overwrite(clean, tmp_path):
    out = save_dataset(tmp_path / "copy", clean.manifest, clean.pairs, clean.sft, clean.reference_params)
    back = load_dataset(out)
    assert back.manifest["checksum"] == clean.manifest["checksum"]
    for name, a in clean.pairs.items():
        np.testing.assert_array_equal(back.pairs[name], a)
    for a, b in zip(jax.tree.leaves(back.reference_params), jax.tree.leaves(clean.reference_params)):
        np.testing.assert_array_equal(a, b)
    assert back.reference_spec == clean.reference_spec
    with pytest.raises(FileExistsError, match="not empty"):
        save_dataset(out, clean.manifest, clean.pairs, clean.sft, clean.reference_params)
    assert load_dataset(out).manifest["checksum"] == clean.manifest["checksum"]


def _bad(clean, **changes):
    pairs = {k: v.copy() for k, v in clean.pairs.items()}
    manifest = json.loads(json.dumps(clean.manifest))
    for k, v in changes.items():
        if k == "manifest":
            v(manifest)
        else:
            pairs[k] = v(pairs[k])
    return manifest, pairs


@pytest.mark.parametrize("change,message", [
    ({"chosen_tokens": lambda t: np.where(np.arange(t.size).reshape(t.shape) == 5, 99, t).astype(np.int32)},
     r"pairs.npz: array 'chosen_tokens' has token 99 out of range \[0, 12\)"),
    ({"rejected_mask": lambda m: np.ones_like(m)},
     r"pairs.npz: rejected_mask\[\d+\] must mark the response up to and including its first EOS"),
    ({"chosen_length": lambda n: n + 1}, r"pairs.npz: chosen_length\[0\]=\d+ but chosen_tokens\[0\] has"),
    ({"prompt_tokens": lambda t: t[:, :3]}, r"pairs.npz: array 'prompt_tokens' has shape \(2048, 3\), expected \(2048, 4\)"),
    ({"chosen_reward": lambda r: r.astype(np.float64)}, r"array 'chosen_reward' has dtype float64, expected float32"),
    ({"manifest": lambda m: m.update(domain="speech")}, r"manifest domain is 'speech'; allowed values: mujoco, text"),
    ({"manifest": lambda m: m["sizes"].pop("vocab")}, r"manifest sizes are missing vocab"),
    ({"manifest": lambda m: m["reference"]["spec"].update(max_len=10)},
     r"reference.spec.max_len=10 does not match sizes.max_len=12"),
    ({"manifest": lambda m: m["task"].update(optimal_reward=0.1)}, r"task.optimal_reward \(0.1\) must exceed"),
])
def test_bad_text_datasets_get_one_clear_error(clean, tmp_path, change, message):
    manifest, pairs = _bad(clean, **change)
    with pytest.raises(DatasetError, match=message):
        save_dataset(tmp_path / "bad", manifest, pairs, clean.sft, clean.reference_params)
    assert not (tmp_path / "bad").exists()  # nothing half-written


def test_tampered_text_file_fails_its_checksum(clean, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(TEXT / "clean", d)
    pairs = dict(np.load(d / "pairs.npz"))
    pairs["chosen_reward"] = pairs["chosen_reward"] + 1.0
    np.savez_compressed(d / "pairs.npz", **pairs)
    with pytest.raises(DatasetError, match="pairs.npz: checksum mismatch for array 'chosen_reward'"):
        load_dataset(d)


def test_mujoco_manifests_without_a_domain_field_are_mujoco():
    assert dataset_io.domain_of({}) == "mujoco"
    assert dataset_io.domain_of({"domain": "text"}) == "text"


@pytest.mark.slow
def test_mpo_data_make_text_is_deterministic_and_shows(tmp_path, capsys):
    from discovery.cli import main

    args = ["data", "make", "--task", "text", "--setting", "noisy", "--n-pairs", "64", "--sft-steps", "20"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert a.manifest["checksum"] == b.manifest["checksum"]
    assert main(["data", "show", str(tmp_path / "a")]) == 0
    assert "flipped" in capsys.readouterr().out and (tmp_path / "a" / "show.png").exists()
    assert main([*args, "--out", str(tmp_path / "a")]) == 2  # refuses to overwrite
    assert main(["data", "make", "--task", "text", "--setting", "noisy", "--horizon", "8", "--out",
                 str(tmp_path / "c")]) == 2  # a MuJoCo-only flag
