"""Adversarial inputs: bad configs, datasets, run directories and outputs, each refused the same way.

Every case asserts exit status 2 with one `mpo: error:` line naming the field (or, for the library call
`discovery.load`, the documented error type and message), and that no file that existed before changed.
Nothing here compiles a program: each refusal comes before any work. The cases run in a copy of one small
world (the tiny dataset, a run directory with a checkpoint, outputs that already exist), made once.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from discovery import checkpoint, fingerprint
from discovery import run_dir as rd
from discovery.cli import main
from discovery.config import load_config
from discovery.engine import search_space
from discovery.loading import load
from envs import dataset_io as dio
from tests.sharded_search import TINY, TINY_DATA

DATA = "data/tiny"  # relative: the world is copied per case and every path in it moves with it
SETS = [a for item in TINY + [f'datasets=["{DATA}"]'] for a in ("--set", item)]
SEARCH = ["search", "--config", "quick", *SETS, "--quiet", "--no-report"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    shutil.copytree(TINY_DATA, w / DATA)
    cwd = os.getcwd()
    os.chdir(w)
    try:
        cfg = load_config("quick", TINY + [f'datasets=["{DATA}"]'])
        run = w / "run"
        rd.create(run, cfg)
        fp = fingerprint.make(cfg)
        fingerprint.write(run, fp)
        # one generation's checkpoint and log line, as a search leaves them (the refusals come before restore)
        mngr = checkpoint.manager(run)
        checkpoint.save(mngr, 1, {"generation": np.asarray(1, np.int32)}, fp)
        mngr.close()
        rd.append_log(run, {"generation": 0, "best": 1.0, "mean": 1.0, "std": 0.0, "nan_count": 0,
                            "best_so_far": 1.0, "best_so_far_generation": 0, "wall_s": 0.1})
        space = search_space(cfg)
        best = {"format_version": rd.BEST_VERSION, "generation": 0, "fitness_during_search": 1.0,
                "vector": np.asarray(space.to_vector(space.fixed)).tolist(), "vector_names": space.names()}
        (run / rd.BEST).write_text(json.dumps(best))
        (run / "fitness_curves_run_loss_shape.png").write_bytes(b"\x89PNG old")  # `mpo plot` would replace it
        out = w / "out"
        out.mkdir()
        for name in ("cmp.json", "shapes.png", "loss.py", "bench.json", "rob.json", "suite.png", "a_file"):
            (out / name).write_text("precious")
        (out / "games").mkdir()
        (out / "games" / "dg_table.md").write_text("precious")
        (out / "busy").mkdir()
        (out / "busy" / "keep.txt").write_text("precious")
        (out / "dir.png").mkdir()
    finally:
        os.chdir(cwd)
    return w


@pytest.fixture
def w(world, tmp_path, monkeypatch) -> Path:
    sandbox = tmp_path / "w"
    shutil.copytree(world, sandbox)
    monkeypatch.chdir(sandbox)
    return sandbox


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


# --- building bad inputs -----------------------------------------------------------------------------------

def _arrays(d: Path) -> tuple[dict, dict, dict, dict]:
    load = lambda f: dict(np.load(d / f))  # noqa: E731
    return (json.loads((d / dio.MANIFEST).read_text()), load(dio.PAIRS_FILE), load(dio.SFT_FILE),
            load(dio.REFERENCE_FILE))


def bad_dataset(w: Path, pairs: Callable[[dict], None] | None = None, sft: Callable[[dict], None] | None = None,
                manifest: Callable[[dict], None] | None = None, recompute: bool = True, name: str = "bad") -> str:
    """A copy of the tiny dataset with arrays/manifest changed; checksums recomputed (unless not), so only
    the value checks can catch it, as with a dataset whose checksums were recomputed after an edit."""
    m, p, s, r = _arrays(w / DATA)
    if pairs:
        pairs(p)
    if sft:
        sft(s)
    if recompute:
        m = dio.finalize_manifest(m, p, s, r)
    if manifest:
        manifest(m)
    d = w / "data" / name
    d.mkdir(parents=True)
    np.savez(d / dio.PAIRS_FILE, **p)
    np.savez(d / dio.SFT_FILE, **s)
    np.savez(d / dio.REFERENCE_FILE, **r)
    (d / dio.MANIFEST).write_text(json.dumps(m))
    return f"data/{name}"


def setter(name: str, index: tuple, value) -> Callable[[dict], None]:
    def f(arrays: dict) -> None:
        a = arrays[name].copy()
        a[index] = value
        arrays[name] = a
    return f


def show(build: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    return lambda w: ["data", "show", build(w)]


def edit_json(path: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Change the JSON file in place (`change` mutates the loaded object; its return value is ignored)."""
    def f(w: Path) -> None:
        data = json.loads((w / path).read_text())
        change(data)
        (w / path).write_text(json.dumps(data))
    return f


def not_prefix(pairs: dict) -> None:
    """chosen_mask[3] with its first step off and its length one shorter: the counts agree, not a prefix."""
    mask, length = pairs["chosen_mask"].copy(), pairs["chosen_length"].copy()
    mask[3, 0] = False
    length[3] = mask[3].sum()
    pairs.update(chosen_mask=mask, chosen_length=length)


def replace_dataset(w: Path) -> None:
    """The run's dataset rebuilt in place with one value changed (and its checksums recomputed)."""
    edited = w / bad_dataset(w, setter("chosen_obs", (0, 0, 0), 0.5), name="edit")
    shutil.rmtree(w / DATA)
    shutil.move(edited, w / DATA)


def resume(edit: Callable[[Path], None] | None = None, *extra: str) -> Callable[[Path], list[str]]:
    def f(w: Path) -> list[str]:
        if edit:
            edit(w)
        return ["search", "--resume", "run", *extra]
    return f


def search_set(*items: str) -> Callable[[Path], list[str]]:
    return lambda w: ["search", "--config", "quick", *[a for i in items for a in ("--set", i)], "--out", "new"]


def config_file(text: str) -> Callable[[Path], list[str]]:
    def f(w: Path) -> list[str]:
        (w / "cfg.json").write_text(text)
        return ["search", "--config", "cfg.json", "--out", "new"]
    return f


def loads(edit: Callable[[Path], None]) -> Callable[[Path], Callable[[], object]]:
    def f(w: Path) -> Callable[[], object]:
        edit(w)
        return lambda: load(w / "run")
    return f


def best_json(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return edit_json("run/best.json", change)


HELD: list = []  # locks held by the "locked" case (another process, in effect), released by the next case


def locked(w: Path) -> list[str]:
    from discovery.lock import RunLock

    while HELD:
        HELD.pop().release()
    HELD.append(RunLock(w / "run").acquire())
    return ["search", "--resume", "run"]


def disk_full(w: Path) -> list[str]:
    (w / "out" / "full.py").symlink_to("/dev/full")  # every write to /dev/full fails with ENOSPC
    return ["export", "sigmoid", "--out", "out/full.py", "--force"]


# --- the cases: (id, build(w) -> argv (a CLI call) or callable (a library call), expected in the message) ----

NAN, INF = float("nan"), float("inf")
CONFIG = [
    ("sigma-word", search_set("strategy.sigma=fast"), "strategy.sigma: got 'fast'; allowed: a number"),
    ("sigma-zero", search_set("strategy.sigma=0"), "strategy.sigma: got 0"),
    ("sigma-negative", search_set("strategy.sigma=-1"), "strategy.sigma: got -1"),
    ("sigma-infinity", search_set("strategy.sigma=Infinity"), "strategy.sigma: got inf; allowed: a finite number"),
    ("sigma-nan", search_set("strategy.sigma=NaN"), "strategy.sigma: got nan; allowed: a finite number"),
    ("population-one", search_set("strategy.population=1"), "strategy.population: got 1; allowed: an integer >= 2"),
    ("population-float", search_set("strategy.population=2.5"), "strategy.population: got 2.5; allowed: an integer"),
    ("population-bool", search_set("strategy.population=true"), "strategy.population: got True; allowed: an integer"),
    ("strategy-name", search_set("strategy.name=pso"), "strategy.name: got 'pso'"),
    ("strategy-not-mapping", search_set("strategy=5"), "'strategy' must be a mapping"),
    ("steps-word", search_set("inner.steps=abc"), "inner.steps: got 'abc'; allowed: an integer"),
    ("steps-float", search_set("inner.steps=1.5"), "inner.steps: got 1.5; allowed: an integer"),
    ("steps-zero", search_set("inner.steps=0"), "inner.steps: got 0; allowed: an integer >= 1"),
    ("lr-word", search_set("inner.learning_rate=fast"), "inner.learning_rate: got 'fast'; allowed: a number"),
    ("lr-negative", search_set("inner.learning_rate=-1"), "inner.learning_rate: got -1"),
    ("lr-infinity", search_set("inner.learning_rate=Infinity"), "inner.learning_rate: got inf"),
    ("batch-zero", search_set("inner.batch_size=0"), "inner.batch_size: got 0"),
    ("grad-norm-zero", search_set("inner.max_grad_norm=0"), "inner.max_grad_norm: got 0"),
    ("unknown-inner-key", search_set("inner.stepz=3"), "unknown key 'inner.stepz'"),
    ("episodes-float", search_set("eval.episodes=2.5"), "eval.episodes: got 2.5; allowed: an integer"),
    ("episodes-zero", search_set("eval.episodes=0"), "eval.episodes: got 0"),
    ("greedy-int", search_set("eval.greedy=1"), "eval.greedy: got 1; allowed: true or false"),
    ("heldout-above-one", search_set("eval.heldout_fraction=1.5"), "eval.heldout_fraction: got 1.5"),
    ("episode-length-zero", search_set("eval.episode_length=0"), "eval.episode_length: got 0"),
    ("generations-bool", search_set("generations=true"), "generations: got True; allowed: an integer"),
    ("generations-zero", search_set("generations=0"), "generations: got 0"),
    ("seeds-bool", search_set("seeds=true"), "seeds: got True; allowed: an integer"),
    ("seed-float", search_set("seed=1.5"), "seed: got 1.5; allowed: an integer"),
    ("chunk-negative", search_set("chunk=-1"), "chunk: got -1"),
    ("name-number", search_set("name=5"), "name: got 5; allowed: a string"),
    ("datasets-empty", search_set("datasets=[]"), "datasets: got []; allowed: a non-empty list"),
    ("datasets-string", search_set('datasets="envs/data/hopper/clean"'), "datasets: got 'envs/data/hopper/clean'"),
    ("loss-init", search_set("loss.init=exo_pair"), "loss.init: got 'exo_pair'"),
    ("init-hparams-number", search_set("loss.init_hparams=5"), "loss.init_hparams: got 5; allowed: a mapping"),
    ("init-hparams-word", search_set('loss.init_hparams={"beta": "x"}'), "loss.init_hparams.beta: got 'x'"),
    ("init-hparams-range", search_set('loss.init_hparams={"beta": -1}'), "beta"),
    ("loss-fields", search_set('loss.fields=["nope"]'), "loss.fields: got ['nope']"),
    ("top-k-negative", search_set("select.top_k=-1"), "select.top_k: got -1; allowed: an integer >= 0"),
    ("report-seeds-one", search_set("report.seeds=1"), "report.seeds: got 1; allowed: an integer >= 2"),
    ("report-baseline", search_set('report.baselines=["nope"]'), "report.baselines: got ['nope']"),
    ("set-without-equals", search_set("generations"), "--set: expected key=value, got 'generations'"),
    ("config-not-json", config_file("{not json"), "is not valid JSON"),
    ("config-unknown-key", config_file('{"generationz": 3}'), "unknown key 'generationz'"),
    ("config-nan-literal", config_file('{"strategy": {"sigma": NaN}}'), "strategy.sigma: got nan"),
    ("config-missing", lambda w: ["search", "--config", "nowhere", "--out", "new"], "--config: nowhere not found"),
]

DATASETS = [
    ("obs-nan", show(lambda w: bad_dataset(w, setter("chosen_obs", (3, 2, 1), NAN))),
     "pairs.npz: array 'chosen_obs' has a non-finite value (nan) at index (3, 2, 1)"),
    ("prompt-obs-inf", show(lambda w: bad_dataset(w, setter("prompt_obs", (0, 4), INF))),
     "array 'prompt_obs' has a non-finite value (inf) at index (0, 4)"),
    ("qpos-nan", show(lambda w: bad_dataset(w, setter("prompt_qpos", (5, 0), NAN))), "array 'prompt_qpos'"),
    ("reward-inf", show(lambda w: bad_dataset(w, setter("rejected_reward", (2, 1), -INF))),
     "array 'rejected_reward' has a non-finite value (-inf) at index (2, 1)"),
    ("return-nan", show(lambda w: bad_dataset(w, setter("chosen_return", (7,), NAN))),
     "array 'chosen_return' has a non-finite value (nan) at index 7"),
    ("sft-obs-nan", show(lambda w: bad_dataset(w, sft=setter("sft_obs", (9, 3), NAN))),
     "sft.npz: array 'sft_obs' has a non-finite value (nan) at index (9, 3)"),
    ("p-chosen-above-one", show(lambda w: bad_dataset(w, setter("p_chosen", (4,), 1.5))),
     "array 'p_chosen' must hold probabilities in [0, 1]; got 1.5 at index 4"),
    ("p-chosen-nan", show(lambda w: bad_dataset(w, setter("p_chosen", (1,), NAN))), "array 'p_chosen'"),
    ("token-too-large", show(lambda w: bad_dataset(w, setter("chosen_tokens", (2, 1, 0), 15))),
     "array 'chosen_tokens' has token 15 out of range [0, 15) at index (2, 1, 0)"),
    ("sft-token-negative", show(lambda w: bad_dataset(w, sft=setter("sft_tokens", (3, 1), -1))),
     "sft.npz: array 'sft_tokens' has token -1 out of range"),
    ("mask-not-prefix", show(lambda w: bad_dataset(w, not_prefix)), "chosen_mask[3] is not a prefix of valid steps"),
    ("length-mismatch", show(lambda w: bad_dataset(w, setter("rejected_length", (5,), 1))), "rejected_length[5]=1"),
    ("return-not-sum", show(lambda w: bad_dataset(w, setter("chosen_return", (0,), 1e6))),
     "chosen_return[0] is not the sum of chosen_reward[0]"),
    ("wrong-dtype", show(lambda w: bad_dataset(w, lambda p: p.update(chosen_obs=p["chosen_obs"].astype(np.float64)))),
     "array 'chosen_obs' has dtype float64, expected float32"),
    ("wrong-shape", show(lambda w: bad_dataset(w, lambda p: p.update(prompt_obs=p["prompt_obs"][:, :5]))),
     "array 'prompt_obs' has shape (16, 5), expected (16, 11)"),
    ("missing-array", show(lambda w: bad_dataset(w, lambda p: p.pop("p_chosen"))), "missing array 'p_chosen'"),
    ("extra-array", show(lambda w: bad_dataset(w, lambda p: p.update(extra=np.zeros(3)))), "unexpected array(s) 'extra'"),
    ("checksum-mismatch", show(lambda w: bad_dataset(w, setter("prompt_obs", (0, 0), 0.5), recompute=False)),
     "checksum mismatch for array 'prompt_obs'"),
    ("format-version", show(lambda w: bad_dataset(w, manifest=lambda m: m.update(format_version=2))),
     "format_version is 2"),
    ("manifest-missing-field", show(lambda w: bad_dataset(w, manifest=lambda m: m.pop("checksum"))),
     "manifest is missing field(s) checksum"),
    ("sizes-string", show(lambda w: bad_dataset(w, manifest=lambda m: m["sizes"].update(n_pairs="16"))),
     "sizes.n_pairs must be a positive integer"),
    ("manifest-not-json", show(lambda w: (bad_dataset(w), (w / "data/bad/manifest.json").write_text("{"))[0]),
     "manifest.json: invalid JSON"),
    ("npz-corrupt", show(lambda w: (bad_dataset(w), (w / "data/bad/pairs.npz").write_bytes(b"PK junk"))[0]),
     "pairs.npz: cannot be read as .npz"),
    ("npz-missing", show(lambda w: (bad_dataset(w), (w / "data/bad/sft.npz").unlink())[0]), "sft.npz: file missing"),
    ("search-on-nan-dataset", lambda w: [*SEARCH[:-2], "--set", f'datasets=["{bad_dataset(w, setter("chosen_obs", (0, 0, 0), NAN))}"]',
                                         "--out", "new"], "data/bad/pairs.npz: array 'chosen_obs' has a non-finite"),
    ("search-missing-dataset", lambda w: [*SEARCH[:-2], "--set", 'datasets=["data/none"]', "--out", "new"],
     "not a dataset directory"),
]

RUN_DIRS = [
    ("edited-population", resume(edit_json("run/config.json", lambda c: c["strategy"].update(population=8))),
     "strategy.population (4 -> 8); start a new run with --out"),
    ("edited-learning-rate", resume(edit_json("run/config.json", lambda c: c["inner"].update(learning_rate=0.1))),
     "inner.learning_rate (0.001 -> 0.1)"),
    ("edited-seed", resume(edit_json("run/config.json", lambda c: c.update(seed=7))), "seed (0 -> 7)"),
    ("edited-dataset-path", resume(lambda w: (bad_dataset(w, name="other"), edit_json(
        "run/config.json", lambda c: c.update(datasets=["data/other"]))(w))), 'datasets (["data/tiny"] -> ["data/other"])'),
    ("dataset-changed-in-place", resume(replace_dataset), "datasets[0] data/tiny changed on disk (checksum"),
    ("edited-report-unallowed", resume(edit_json("run/config.json", lambda c: c["report"].update(seeds=3))),
     "report.seeds (8 -> 3); --allow-config-change KEY accepts"),
    ("allow-unsafe-key", resume(edit_json("run/config.json", lambda c: c["strategy"].update(population=8)),
                                "--allow-config-change", "strategy.population"),
     "--allow-config-change: strategy.population cannot change in a resumed run"),
    ("allow-without-resume", lambda w: ["search", "--allow-config-change", "name", "--out", "new"],
     "--allow-config-change: only with --resume"),
    ("resume-with-set", lambda w: ["search", "--resume", "run", "--set", "generations=3"], "drop --config/--set/--out"),
    ("config-bad-type", resume(edit_json("run/config.json", lambda c: c["strategy"].update(sigma="x"))),
     "strategy.sigma: got 'x'; allowed: a number"),
    ("run-config-not-json", resume(lambda w: (w / "run/config.json").write_text("{")), "config.json is not valid JSON"),
    ("config-a-list", resume(lambda w: (w / "run/config.json").write_text("[]")), "must hold a JSON object, got list"),
    ("run-config-missing", resume(lambda w: (w / "run/config.json").unlink()), "has no config.json; not a run directory"),
    ("no-fingerprint", resume(lambda w: (shutil.rmtree(w / "run/checkpoints"), (w / "run/fingerprint.json").unlink())),
     "has no fingerprint.json (made by an older version)"),
    ("fingerprint-corrupt", resume(lambda w: (shutil.rmtree(w / "run/checkpoints"),
                                              (w / "run/fingerprint.json").write_text("{"))),
     "fingerprint.json is not valid JSON"),
    ("locked", locked, "run: in use by process"),
    ("resume-a-file", lambda w: ["search", "--resume", "out/a_file"], "out/a_file is a file, not a run directory"),
    ("log-corrupt", resume(lambda w: (w / "run/log.jsonl").write_text("{bad\n{}\n")), "log.jsonl: line 1 is not valid JSON"),
]

LOAD = [
    ("best-a-list", loads(lambda w: (w / "run/best.json").write_text("[]")), "expected a JSON object (the output of `mpo search`), got list"),
    ("best-vector-nan", loads(best_json(lambda b: b["vector"].__setitem__(3, NAN))),
     "vector.3: got nan; allowed: a finite number"),
    ("best-vector-infinity", loads(best_json(lambda b: b["vector"].__setitem__(0, INF))), "vector.0: got inf"),
    ("best-vector-short", loads(best_json(lambda b: b["vector"].pop())), "'vector' has 52 entries; the run's search space has 53"),
    ("best-vector-strings", loads(best_json(lambda b: b.update(vector=["a"] * len(b["vector"])))), "vector.0: got 'a'"),
    ("best-version", loads(best_json(lambda b: b.update(format_version=2))), "format_version: got 2"),
    ("best-no-vector", loads(best_json(lambda b: b.pop("vector"))), "vector is missing"),
    ("best-generation-word", loads(best_json(lambda b: b.update(generation="x"))), "generation: got 'x'; allowed: an integer"),
    ("best-names", loads(best_json(lambda b: b["vector_names"].reverse())), "'vector_names' do not match"),
    ("best-corrupt", loads(lambda w: (w / "run/best.json").write_text("{")), "corrupt JSON"),
    ("best-missing", loads(lambda w: (w / "run/best.json").unlink()), "no best.json (the search has not finished)"),
]

OUTPUTS = [
    ("eval-json-exists", lambda w: ["eval", "sigmoid", "--dataset", DATA, "--out", "out/cmp.md"],
     "--out: out/cmp.json already exists; pass --force"),
    ("plot-shape-exists", lambda w: ["plot", "run"], "run/fitness_curves_run_loss_shape.png already exists"),
    ("plot-not-png", lambda w: ["plot", "run", "--out", "out/curves.pdf"], "--out: expected a .png file"),
    ("export-exists", lambda w: ["export", "sigmoid", "--out", "out/loss.py"], "--out: out/loss.py already exists"),
    ("export-parent-file", lambda w: ["export", "sigmoid", "--out", "out/a_file/loss.py"], "a_file is not a directory"),
    ("export-not-py", lambda w: ["export", "sigmoid", "--out", "out/loss.txt"], "--out: expected a .py file"),
    ("export-disk-full", disk_full, "cannot write out/full.py: No space left on device"),
    ("losses-plot-exists", lambda w: ["losses", "plot", "sigmoid", "--out", "out/shapes.png"], "out/shapes.png already exists"),
    ("losses-plot-dir", lambda w: ["losses", "plot", "sigmoid", "--out", "out/dir.png"], "out/dir.png is a directory"),
    ("search-out-file", lambda w: [*SEARCH, "--out", "out/a_file"], "--out: out/a_file exists and is not a directory"),
    ("search-out-busy", lambda w: [*SEARCH, "--out", "out/busy"], "--out: out/busy exists and is not empty"),
    ("search-out-under-file", lambda w: [*SEARCH, "--out", "out/a_file/run"], "a_file is not a directory"),
    ("bench-json-exists", lambda w: ["bench", "--out", "out/bench.md"], "out/bench.json already exists"),
    ("robustness-json-exists", lambda w: ["robustness", "--losses", "sigmoid", "--out", "out/rob.md"],
     "out/rob.json already exists"),
    ("games-out-file", lambda w: ["games", "run", "--out", "out/a_file"], "--out: out/a_file exists and is not a directory"),
    ("games-out-busy", lambda w: ["games", "run", "--out", "out/games"], "--out: out/games already exists and is not empty (dg_table.md)"),
    ("data-make-busy", lambda w: ["data", "make", "--task", "text", "--setting", "noisy", "--out", DATA],
     "--out: data/tiny already exists and is not empty"),
    ("data-show-png-exists", lambda w: ["data", "show", DATA, "--png", "out/shapes.png"], "--png: out/shapes.png already exists"),
    ("suite-png-exists", lambda w: ["data", "suite", "--out", "out/suite.md"], "out/suite.png already exists"),
    ("suite-task-steps-other-task", lambda w: ["data", "suite", "--task-steps", "walker2d=800", "--out", "new/suite.md"],
     "--task-steps: got 'walker2d=800'; allowed: TASK=N with TASK one of the --task values (hopper)"),
    ("suite-task-steps-zero", lambda w: ["data", "suite", "--task-steps", "hopper=0", "--out", "new/suite.md"],
     "suite: steps: got 0; allowed: an integer >= 1"),
    ("suite-task-confirm-not-a-number", lambda w: ["data", "suite", "--task-confirm-cells", "hopper=two", "--out",
                                                   "new/suite.md"],
     "--task-confirm-cells: got 'hopper=two'; allowed: TASK=N with TASK one of the --task values (hopper)"),
    ("suite-cached-only-nothing-cached", lambda w: ["data", "suite", "--cached-only", "--cache", "new/runs", "--out",
                                                    "new/suite.md"],
     "suite: nothing to report, new/suite.md not written; not run: hopper/"),
    ("suite-task-confirm-too-many", lambda w: ["data", "suite", "--task-confirm-cells", "hopper=7", "--out", "new/suite.md"],
     "suite: confirm_cells: got 7; allowed: 0 to the grid's cells per loss (6)"),
    ("study-report-json-exists", lambda w: ["study", "--stage", "report", "--report", "out/rob.md"],
     "--report: out/rob.json already exists"),
    ("study-out-file", lambda w: ["study", "--stage", "targets", "--out", "out/a_file"],
     "--out: out/a_file exists and is not a directory"),
    ("study-report-no-pieces", lambda w: ["study", "--stage", "report", "--out", "out/busy", "--report", "new/d.md"],
     "no finished study piece"),
]

CASES = [*CONFIG, *DATASETS, *RUN_DIRS, *LOAD, *OUTPUTS]


def test_there_are_at_least_sixty_distinct_bad_inputs():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60, len(ids)


@pytest.mark.parametrize("build, expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_gets_one_line_naming_it_and_changes_nothing(build, expect, w, capsys):
    action = build(w)  # makes the bad input (files made here are the "before" state)
    before = snapshot(w)
    capsys.readouterr()
    if callable(action):  # a library call: a ValueError/FileNotFoundError with the message
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            action()
        message = str(err.value)
        assert "\n" not in message and expect in message, message
    else:
        code = main(action)
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1, lines
        assert lines[0].startswith("mpo: error: ") and expect in lines[0], lines[0]
    after = snapshot(w)
    assert {k: after.get(k) for k in before} == before  # no file that existed was changed or removed
    assert not (w / "new").exists()


@pytest.fixture
def read_only(tmp_path):
    """A read-only directory: chmod for a normal user; root ignores modes, so a read-only tmpfs then."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)], capture_output=True).returncode:
        pytest.skip("root without a way to make a read-only directory (no mount)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


@pytest.mark.parametrize("argv", [["losses", "plot", "sigmoid", "--out", "{ro}/x.png"],
                                  ["search", "--config", "quick", "--out", "{ro}/run"],
                                  ["export", "sigmoid", "--out", "{ro}/sub/loss.py"]])
def test_a_read_only_directory_is_one_line(argv, read_only, capsys):
    capsys.readouterr()
    assert main([a.format(ro=read_only) for a in argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{read_only} is not writable" in lines[0], lines
    assert not any(read_only.iterdir())
