"""`mpo search`, `mpo eval`, `mpo plot` end to end on the tiny fixture (the report compiles several programs)."""
import json

import pytest

from discovery.cli import main
from tests.sharded_search import TINY, TINY_DATA

SETS = [arg for item in TINY + ["generations=2", 'report.baselines=["sigmoid", "kto_pair"]', "report.seeds=2",
                                "report.episodes=1"] for arg in ("--set", item)]


@pytest.mark.slow
def test_search_eval_plot_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["search", "--config", "quick", *SETS, "--out", str(run), "--quiet"]) == 0
    for name in ("config.json", "versions.json", "log.jsonl", "best.json", "fitness.png", "loss_shape.png",
                 "report.md", "report.json"):
        assert (run / name).exists(), name
    report = (run / "report.md").read_text()
    for label in ("reference policy (no fine-tuning)", "discovered (best)", "discovered (ES mean)", "sigmoid", "kto_pair"):
        assert f"| {label} |" in report
    rows = json.loads((run / "report.json").read_text())
    assert all("fitness_ci95" in r for r in rows)

    out = tmp_path / "cmp.md"
    assert main(["eval", str(run), "sigmoid:beta=0.5", "--dataset", str(TINY_DATA), "--config", "quick",
                 "--set", "inner.steps=4", "--set", "eval.episode_length=8", "--seeds", "2", "--episodes", "1",
                 "--out", str(out), "--quiet"]) == 0
    assert "| run (discovered) |" in out.read_text() and "| sigmoid:beta=0.5 |" in out.read_text()

    assert main(["plot", str(run), str(run), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_bad_search_requests(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("precious")
    assert main(["search", "--config", "quick", *SETS, "--out", str(tmp_path / "busy"), "--quiet"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "precious"
    assert main(["search", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main(["search", "--resume", str(tmp_path / "busy"), "--set", "generations=3"]) == 2
    assert "drop --config/--set/--out" in capsys.readouterr().err
    assert main(["search", "--config", "quick", "--set", "strategy.name=pso"]) == 2
    assert "allowed: one of 'cma_es', 'sep_cma_es', 'open_es' or 'snes'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "busy")]) == 2
    assert "not a run directory" in capsys.readouterr().err
