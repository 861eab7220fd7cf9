"""A replay run on the tiny fixture: deterministic, resumes after a kill to the same archive and report, records
every failure with its message, and `mpo propose` refuses bad input with one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discovery.cli import main
from discovery.proposers.archive import ARCHIVE, LOG, Archive, without_timing
from discovery.proposers.loop import DEFAULTS, check_config, make_workers, merge, run_propose
from discovery.proposers.proposal import SIGNATURE, seed_proposals

TINY = str(Path(__file__).resolve().parents[2] / "data" / "tiny_hopper_clean")
SETS = ["seeds=1", "inner.steps=2", "inner.batch_size=4", "eval.episodes=1", "eval.episode_length=8",
        "select.top_k=2", "select.seeds=2", "report.seeds=2", 'report.baselines=["dpo"]', "report.beta_scales=[1.0]",
        "report.learning_rates=[0.003]", "limits.score_memory_mb=6144"]


def replay_file(path: Path) -> Path:
    dpo, slic = seed_proposals()[0].to_json(), seed_proposals()[1].to_json()
    lines = [
        json.dumps({**dpo, "name": "dpo-beta-0.3", "constants": {"beta": {"value": 0.3, "low": 0.01, "high": 1.0}}}),
        json.dumps({"name": "escape", "code": SIGNATURE + "\n    import os\n    return policy_chosen_logps\n"}),
        "{not json",
        json.dumps({**slic, "name": "slic-0.2", "constants": {"beta": {"value": 0.2, "low": 0.01, "high": 1.0}}}),
        json.dumps({"name": "nan", "code": SIGNATURE + "\n    return jnp.log(policy_chosen_logps)\n"}),
        json.dumps({**dpo, "name": "dpo-beta-0.05", "constants": {"beta": {"value": 0.05, "low": 0.01, "high": 1.0}}}),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(replay: Path) -> dict:
    from discovery.config import parse_override

    cfg = {"proposer": "replay", "replay": str(replay), "datasets": [TINY], "generations": 4, "population": 2}
    for text in SETS:
        keys, value = parse_override(text)
        node = cfg
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return cfg


def check_archive(recs: list[dict]) -> None:
    stage = {r["name"]: (r["stage"], r["error"]) for r in recs}
    assert stage["dpo-beta-0.3"][0] == "scored" and stage["slic-0.2"][0] == "scored"
    assert stage["escape"][0] == "parse" and "`import` statement is not allowed" in stage["escape"][1]
    assert stage["invalid"][0] == "format" and "not JSON" in stage["invalid"][1]
    assert stage["nan"][0] == "validate" and "NaN/inf" in stage["nan"][1]
    assert all(r["fitness"] is not None and set(r["scores"]) == {TINY} for r in recs if r["stage"] == "scored")


def log_lines(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One validator and one scoring worker for every run of this module (one start, one set of compiles)."""
    tmp = tmp_path_factory.mktemp("replay")
    replay = replay_file(tmp / "replay.jsonl")
    cfg = {**config(replay), "seed_archive": False, "generations": 3}
    val, score = make_workers(tmp / "workers", check_config(merge(DEFAULTS, cfg)))
    yield tmp, cfg, (val, score)
    val.close()
    score.close()


@pytest.fixture(scope="module")
def uninterrupted(shared):
    tmp, cfg, workers = shared
    res = run_propose(cfg, tmp / "a", quiet=True, workers=workers)
    return cfg, tmp / "a", res, workers


def test_replay_run(uninterrupted):
    _, a, res, workers = uninterrupted
    assert [w.starts for w in workers] == [1, 1]  # each worker started once, never killed
    recs = res["archive"]
    assert [(r["generation"], r["origin"]) for r in recs] == [(g, "replay") for g in (0, 0, 1, 1, 2, 2)]
    check_archive(recs)
    assert (a / "report.md").exists() and (a / "archive.png").exists()
    best = json.loads((a / "best.json").read_text())
    assert best["name"] in {"dpo-beta-0.3", "slic-0.2", "dpo-beta-0.05"} and best["code"].startswith("def loss(")
    report = (a / "report.md").read_text()
    assert "tuned dpo" in report and "vs tuned dpo" in report and "reference policy" in report


def test_replay_resumes_after_a_kill(uninterrupted, tmp_path):
    """The files a kill inside generation 1 leaves (the uninterrupted run's config, generation 0's archive and log
    lines, and generation 1's records without its log line: they are written first), then --resume: the same
    archive and log as the uninterrupted run. (test_replay_resumes_after_sigkill, slow, kills a real process.)"""
    cfg, a, res, workers = uninterrupted
    b = tmp_path / "b"
    b.mkdir()
    for name in ("config.json", "versions.json"):
        shutil.copy(a / name, b / name)
    recs = res["archive"]
    (b / ARCHIVE).write_text("".join(json.dumps(r) + "\n" for r in recs if r["generation"] <= 1))
    (b / LOG).write_text((a / LOG).read_text().splitlines()[0] + "\n")
    res_b = run_propose(None, b, resume=True, quiet=True, workers=workers)
    assert without_timing(res_b["archive"]) == without_timing(recs)
    assert log_lines(b / LOG) == log_lines(a / LOG)
    assert json.loads((b / "report.json").read_text()) == json.loads((a / "report.json").read_text())
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        run_propose(cfg, b, quiet=True)
    with pytest.raises(ValueError, match="already finished all 3 generations"):
        run_propose(None, b, resume=True, quiet=True)


@pytest.mark.slow
def test_replay_resumes_after_sigkill(tmp_path):
    """`mpo propose` killed with SIGKILL after two generations (seed archive first), then `--resume`: the same
    archive as an uninterrupted run."""
    replay = replay_file(tmp_path / "replay.jsonl")
    a, b = tmp_path / "a", tmp_path / "b"
    res = run_propose(config(replay), a, quiet=True, report=False)
    recs = res["archive"]
    assert [r["generation"] for r in recs] == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
    check_archive(recs)
    cmd = [sys.executable, "-m", "discovery.cli", "propose", "--proposer", "replay", "--replay", str(replay),
           "--dataset", TINY, "--generations", "4", "--population", "2", "--out", str(b), "--quiet", "--no-report"]
    for s in SETS:
        cmd += ["--set", s]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while len(Archive(b).log) < 2 and proc.poll() is None and time.time() - t0 < 300:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(Archive(b).log)
    assert 2 <= done < 4, f"killed after {done} generations"
    assert main(["propose", "--resume", str(b), "--quiet", "--no-report"]) == 0
    assert without_timing(Archive(b).records) == without_timing(recs)
    assert log_lines(b / LOG) == log_lines(a / LOG)


@pytest.mark.parametrize("argv, phrase", [
    (["propose", "--proposer", "replay", "--out", "X"], "replay: got None"),
    (["propose", "--proposer", "replay", "--replay", "/nonexistent.jsonl", "--out", "X"], "--replay: /nonexistent.jsonl not found"),
    (["propose", "--generations", "0", "--out", "X"], "generations: got 0"),
    (["propose", "--set", "bogus=1", "--out", "X"], "unknown key 'bogus'"),
    (["propose", "--resume", "X", "--generations", "3"], "--resume: the run directory's own config is used"),
    (["propose", "--proposer", "openai", "--out", "X"], "--base-url"),
])
def test_cli_errors(tmp_path, capsys, monkeypatch, argv, phrase):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    argv = [str(tmp_path / "run") if a == "X" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mpo: error:") and phrase in err[0], err
    assert not (tmp_path / "run").exists()
