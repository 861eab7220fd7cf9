"""`mpo export` from the shell: what the file records, and one clear error (exit 2) for every bad input."""
import ast
import json
import math

import numpy as np
import pytest

from discovery.cli import main
from discovery.export.source import config_hash
from tests.discovery.export.helpers import write_run


def _export(capsys, *argv):
    code = main(["export", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_a_run_records_its_provenance(tmp_path, capsys):
    run, space = write_run(tmp_path / "run", temporal=["log_beta"], generation=7)
    out = tmp_path / "my_loss.py"
    code, stdout, _ = _export(capsys, run, "--out", out)
    assert code == 0 and f"wrote {out}" in stdout
    text = out.read_text()
    cfg = json.loads((run / "config.json").read_text())
    assert text.startswith('"""Mirror Preference Optimization loss, exported by mpo-discovery.')
    assert f"run directory {run.resolve()}, generation 7" in text
    assert f"config sha256 {config_hash(cfg)}" in text and "jax 0.9.2" in text
    assert "import discovery" not in text and "search_spaces" not in text.split('"""')[2].split("PROVENANCE")[0]
    ns = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(text).body
          if isinstance(node, ast.Assign) and node.targets[0].id in ("BASE", "SLOPE", "PROVENANCE")}
    assert ns["PROVENANCE"]["generation"] == 7 and ns["PROVENANCE"]["run_versions"]["jax"] == "0.9.2"
    assert ns["BASE"]["log_beta"] == pytest.approx(math.log(0.1), rel=1e-7)
    # an existing file is kept unless --force
    code, _, err = _export(capsys, run, "--out", out)
    assert code == 2 and "exists; pass --force" in err
    assert _export(capsys, run, "--out", out, "--force")[0] == 0


def test_export_a_zoo_point_and_the_family_default(tmp_path, capsys):
    assert _export(capsys, "simpo:beta=2.5,gamma=0.3", "--out", tmp_path / "simpo_loss.py")[0] == 0
    text = (tmp_path / "simpo_loss.py").read_text()
    assert "the zoo loss simpo:beta=2.5,gamma=0.3 as a point of the family" in text and '"gamma": 0.3' in text
    assert _export(capsys, "mpo", "--out", tmp_path / "default_loss.py")[0] == 0


def _tamper(run, **changes):
    best = json.loads((run / "best.json").read_text())
    best.update(changes)
    (run / "best.json").write_text(json.dumps(best))


BAD_RUNS = {
    "nan": (lambda run, vec, names: _tamper(run, vector=[math.nan] + vec[1:]), "'vector' entry base.lam = nan is not finite"),
    "inf": (lambda run, vec, names: _tamper(run, vector=vec[:-1] + [math.inf]), "is not finite"),
    "short": (lambda run, vec, names: _tamper(run, vector=vec[:-1]), "'vector' has {n_short} entries; the run's search space has {n}"),
    "strings": (lambda run, vec, names: _tamper(run, vector=["0.1"] * len(vec)), "'vector' must be a list of numbers"),
    "names": (lambda run, vec, names: _tamper(run, vector_names=names[::-1]), "'vector_names' do not match"),
    "box": (lambda run, vec, names: _tamper(run, vector=[7.0] + vec[1:]), "entry base.lam = 7 outside its box [0, 1]"),
    "missing": (lambda run, vec, names: (run / "best.json").write_text(json.dumps({"vector": vec})),
                "missing field(s) generation, vector_names"),
    "corrupt": (lambda run, vec, names: (run / "best.json").write_text("{not json"), "best.json: corrupt JSON"),
    "unfinished": (lambda run, vec, names: (run / "best.json").unlink(), "no best.json (the search has not finished)"),
    "no_config": (lambda run, vec, names: (run / "config.json").unlink(), "not a run directory (no config.json)"),
    "bad_config": (lambda run, vec, names: (run / "config.json").write_text(json.dumps({"seeds": "many"})),
                   "config.json: invalid config (config: seeds: got 'many'"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_a_bad_run_directory_is_one_clear_error(tmp_path, capsys, case):
    run, space = write_run(tmp_path / "run", temporal=["log_beta"])
    vec = json.loads((run / "best.json").read_text())["vector"]
    tamper, message = BAD_RUNS[case]
    tamper(run, vec, space.names())
    out = tmp_path / "loss.py"
    code, _, err = _export(capsys, run, "--out", out)
    assert code == 2 and err.startswith("mpo: error: ") and err.count("\n") == 1, err
    assert message.format(n=len(vec), n_short=len(vec) - 1) in err, err
    assert not out.exists()


@pytest.mark.parametrize("arg,message", [
    ("runs/does-not-exist", "runs/does-not-exist: no such run directory (and not a loss name)"),
    ("kto_pair", "loss 'kto_pair' is not a point of the Mirror Preference Optimization family"),
    ("dpo2", "unknown loss 'dpo2'"),
    ("sigmoid:beta=-1", "hyperparameter beta=-1.0 out of range"),
    ("sigmoid:bta=1", "unknown hyperparameter(s) ['bta']"),
    ("mpo:beta=0.2", "loss 'mpo': unknown hyperparameter(s) ['beta']; allowed: none"),
])
def test_a_bad_loss_name_is_one_clear_error(tmp_path, capsys, arg, message):
    code, _, err = _export(capsys, arg, "--out", tmp_path / "loss.py")
    assert code == 2 and err.startswith("mpo: error: ") and err.count("\n") == 1 and message in err, err


def test_a_run_that_never_found_a_finite_fitness_still_exports(tmp_path, capsys):
    run, _ = write_run(tmp_path / "run")
    _tamper(run, fitness_during_search=-math.inf)  # what a search whose candidates were all NaN records
    out = tmp_path / "inf_loss.py"
    assert _export(capsys, run, "--out", out)[0] == 0
    provenance = next(ast.literal_eval(node.value) for node in ast.parse(out.read_text()).body
                      if isinstance(node, ast.Assign) and node.targets[0].id == "PROVENANCE")
    assert provenance["fitness_during_search"] == "-inf"


def test_out_must_be_an_importable_python_file(tmp_path, capsys):
    assert "expected a .py file" in _export(capsys, "sigmoid", "--out", tmp_path / "loss.txt")[2]
    assert "cannot be imported as a module" in _export(capsys, "sigmoid", "--out", tmp_path / "my-loss.py")[2]


def test_a_float32_vector_on_its_box_edge_is_accepted(tmp_path, capsys):
    run, space = write_run(tmp_path / "run")
    lo, hi = space.bounds()
    vec = np.asarray(json.loads((run / "best.json").read_text())["vector"])
    i = space.names().index("base.log_beta")
    vec[i] = float(np.float32(lo[i]))  # float32 rounding can put a clipped coordinate just past the bound
    _tamper(run, vector=vec.tolist())
    assert _export(capsys, run, "--out", tmp_path / "edge_loss.py")[0] == 0
