"""`mpo losses ...` end to end through the console entry point's main()."""
import json

import pytest

from discovery.cli import main
from search_spaces.points import point_names
from search_spaces.registry import zoo_names


def test_list_shows_every_loss_with_citation(capsys):
    assert main(["losses", "list"]) == 0
    out = capsys.readouterr().out
    for name in zoo_names():
        assert f"\n{name} " in out
    assert "arXiv 2305.18290" in out and f"({len(point_names())} are exact MPO points)" in out


def test_list_json_is_machine_readable(capsys):
    assert main(["losses", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["sigmoid"]["mpo_point"] == "yes" and by_name["exo_pair"]["mpo_point"] == "no"
    assert by_name["simpo"]["hyperparameters"] == "beta=2, gamma=0.5"


def test_show_gives_formula_defaults_and_mpo_point(capsys):
    assert main(["losses", "show", "orpo"]) == 0
    out = capsys.readouterr().out
    assert "log odds" in out and "arXiv 2403.07691" in out
    point = json.loads(out.split("MPO point  : ")[1])
    assert point["mirror_w"] == {"logit": 1.0} and point["c_ref"] == 0.0 and point["w_sft"] == 1.0
    assert main(["losses", "show", "mpo"]) == 0
    assert "53 coordinates" in capsys.readouterr().out


def test_unknown_name_is_one_clear_error(capsys):
    assert main(["losses", "show", "dpo2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mpo: error: unknown loss 'dpo2'; known losses:") and err.count("\n") == 1


def test_plot_writes_png_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "shapes.png"
    assert main(["losses", "plot", "sigmoid", "discopop", "orpo", "simpo:beta=2.5,gamma=1", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = out.stat().st_mtime_ns
    assert main(["losses", "plot", "sigmoid", "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    assert main(["losses", "plot", "sigmoid", "--out", str(out), "--force"]) == 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sigmoid:betta=1"], "unknown hyperparameter(s) ['betta']"),
        (["sigmoid:beta=-1"], "beta=-1.0 out of range"),
        (["sigmoid:beta"], "expected key=value"),
        (["sigmoid:beta=abc"], "must be a number"),
        (["mpo"], "'mpo' is the family"),
    ],
)
def test_plot_bad_input_names_the_problem(tmp_path, capsys, argv, message):
    assert main(["losses", "plot", *argv, "--out", str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
