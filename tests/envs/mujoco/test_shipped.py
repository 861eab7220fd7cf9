"""The canonical datasets shipped in envs/data/TASK (settings.SHIPPED: hopper's and walker2d's): valid, made by
`mpo data make`, and with the label properties their settings promise. A label compares each response's
value: `{side}_value` under the return-to-go recipe of the suite v2 settings, the segment return otherwise."""
import numpy as np
import pytest
from scipy import stats

from envs import dataset_io
from envs.mujoco import settings, tasks

SHIPPED = [(task, name) for task, names in settings.SHIPPED.items() for name in names]


def value(pairs, side: str):
    return pairs[f"{side}_value"] if f"{side}_value" in pairs else pairs[f"{side}_return"]


@pytest.fixture(scope="module")
def every():
    """Every shipped dataset, by (task, setting)."""
    return {(t, s): dataset_io.load_dataset(tasks.DATA_DIR / t / s) for t, s in SHIPPED}


@pytest.fixture(scope="module")
def shipped(every):
    """hopper's, by setting."""
    return {s: ds for (t, s), ds in every.items() if t == "hopper"}


def test_all_settings_shipped_validated_and_reproducible_by_command(every):
    for (task, name), ds in every.items():
        m = ds.manifest
        # fields added after a dataset was made (e.g. label_value) take their defaults
        assert settings.DatasetConfig.from_json(m["properties"]) == settings.make_config(task, name), (task, name)
        # made by the one documented command, into the shipped place (--overwrite at most)
        made = f"mpo data make --task {task} --setting {name} --out envs/data/{task}/{name}"
        assert m["command"] in (made, made + " --overwrite", made + " --force"), m["command"]
        assert m["generation_wall_time_s"] > 0
        assert set(m["versions"]) >= {"jax", "brax", "mujoco-mjx", "flax", "optax"}
        assert (m["task"]["random_return"], m["task"]["expert_return"]) == tasks.reference_returns(task)


def test_shipped_set_is_small():
    """The issue's budget: every shipped dataset and expert set together under 60 MB."""
    total = sum(f.stat().st_size for f in tasks.DATA_DIR.rglob("*") if f.is_file() and f.suffix != ".png")
    assert total < 60 * 2**20


def test_walker2d_responses_are_the_references_own_samples(every):
    """walker2d's recipe: clean and high-temperature responses are the reference's own samples (their stored
    level is one past the experts'); its mixed-quality keeps the experts (the test below)."""
    for name in ("clean", "high-temperature"):
        ds = every[("walker2d", name)]
        n_levels = len(ds.manifest["experts"]["levels"])
        p = ds.pairs
        assert np.all(p["chosen_level"] == n_levels) and np.all(p["rejected_level"] == n_levels), name


@pytest.mark.parametrize("task", settings.SHIPPED)
def test_clean_chosen_never_worse(every, task):
    p = every[(task, "clean")].pairs
    assert np.all(value(p, "chosen") >= value(p, "rejected"))
    assert not p["flipped"].any()


def test_noisy_flips_are_nested_disagreements(shipped):
    """One 1024-pair sample is a single draw of the flip rate; the generator's rate against the binomial
    99% interval is tested on 20000 pairs in test_envs_labels. Here: flips are exactly the disagreements
    with the true returns, the recorded rate is the measured one, and with one seed the noisy settings
    share their uniforms, so a pair flipped at eps 0.1 is flipped at 0.2 and 0.3 too."""
    flips = {}
    for eps in (0.1, 0.2, 0.3, 0.4):
        ds = shipped[f"noisy-{eps}"]
        p = ds.pairs
        vc, vr = value(p, "chosen"), value(p, "rejected")
        strict = vc != vr
        assert np.all((vc < vr)[strict] == p["flipped"][strict])
        assert ds.manifest["stats"]["flip_rate"] == pytest.approx(p["flipped"].mean())
        # far outside any plausible binomial range would mean a broken generator
        lo, hi = stats.binom.interval(1 - 1e-6, p["flipped"].size, eps)
        assert lo <= p["flipped"].sum() <= hi
        flips[eps] = p["flipped"]
    for lo, hi in ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4)):
        assert np.all(flips[lo] <= flips[hi])


def test_settings_share_prompts_and_responses(shipped):
    a, b = shipped["clean"].pairs, shipped["noisy-0.2"].pairs
    np.testing.assert_array_equal(a["prompt_obs"], b["prompt_obs"])
    np.testing.assert_array_equal(np.sort(np.concatenate([a["chosen_return"], a["rejected_return"]])),
                                  np.sort(np.concatenate([b["chosen_return"], b["rejected_return"]])))


@pytest.mark.parametrize("task", settings.SHIPPED)
def test_high_temperature_probabilities(every, task):
    ds = every[(task, "high-temperature")]
    p, T = ds.pairs, ds.manifest["properties"]["bt_temperature"]
    gap = value(p, "chosen") - value(p, "rejected")
    np.testing.assert_allclose(p["p_chosen"], 1 / (1 + np.exp(-gap / T)), rtol=1e-4, atol=1e-5)
    agree = np.mean(gap > 0)
    # softer than clean, still informative
    assert 0.55 < agree < 0.99


@pytest.mark.parametrize("task", settings.SHIPPED)
def test_mixed_quality_uses_poor_and_best_policies(every, task):
    ds = every[(task, "mixed-quality")]
    names = [lv["name"] for lv in ds.manifest["experts"]["levels"]]
    used = set(np.unique(np.concatenate([ds.pairs["chosen_level"], ds.pairs["rejected_level"]])).tolist())
    assert used == {names.index("q10"), names.index("q100")}
    # a chosen response from the poor policy is common: "chosen" is often bad in absolute terms
    assert np.mean(ds.pairs["chosen_level"] == names.index("q10")) > 0.1


def test_reference_policy_beats_random(every):
    for name, ds in every.items():
        ref = ds.manifest["reference"]
        assert ref["normalized_score"] > 20.0, (name, ref["normalized_score"])


def test_manifests_record_no_absolute_paths():
    """A manifest says the same on every machine: paths in it are relative to the repository."""
    import json

    def strings(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from strings(v)
        elif isinstance(x, list):
            for v in x:
                yield from strings(v)
        elif isinstance(x, str):
            yield x

    for task, name in SHIPPED:
        manifest = json.loads((tasks.DATA_DIR / task / name / "manifest.json").read_text())
        bad = [v for v in strings(manifest) if v.startswith("/") or str(tasks.REPO) in v]
        assert not bad, (name, bad)
