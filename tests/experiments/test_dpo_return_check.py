"""The check's --json record holds no machine path: a dataset in the repository by its relative path, one
outside it by its manifest's command (its --out as DIR) and checksum; the --json target is left out."""
from __future__ import annotations

from envs.mujoco import tasks
from experiments.dpo_return_check import run_record


def test_the_record_names_datasets_without_machine_paths(tmp_path) -> None:
    inside = run_record({"dataset": str(tasks.DATA_DIR / "hopper" / "clean"), "json": "/tmp/x.json", "seed": 3},
                        {"checksum": "abc", "command": "mpo data make --out envs/data/hopper/clean"})
    assert inside == {"dataset": "envs/data/hopper/clean", "seed": 3, "dataset_checksum": "abc",
                      "dataset_command": "mpo data make --out envs/data/hopper/clean"}
    outside = run_record({"dataset": str(tmp_path / "w05"), "json": None},
                         {"checksum": "def", "command": f"mpo data make --eps 0.5 --out {tmp_path / 'w05'}"})
    assert outside == {"dataset": None, "dataset_checksum": "def", "dataset_command": "mpo data make --eps 0.5 --out DIR"}
    copy = run_record({"dataset": str(tmp_path / "eps0.3-seed1"), "json": None},
                      {"checksum": "f", "command": f"python -m experiments.flip_realizations --seeds 1 --out {tmp_path}"})
    assert copy["dataset_command"] == "python -m experiments.flip_realizations --seeds 1 --out PARENT"
