"""The suite, resumable per setting: each (task, setting) result is a JSON file in the cache directory,
reused while the plan and the dataset's checksum are unchanged, so a killed run continues where it
stopped. Then the report: markdown with every setting's table and the checked claims, JSON, a figure."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from discovery import strict_json
from discovery.suite.evaluate import run_setting
from discovery.suite.plan import CONFIRM_FIELDS, SuitePlan, recorded_plan
from discovery.suite.settings import setting_source
from discovery.suite.table import criteria, plot_suite, setting_markdown
from envs.mujoco import tasks
from envs.runtime import versions


def _checksum(dataset: Path) -> str:
    manifest = dataset / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"suite: dataset {dataset} not found (no manifest.json); make it with "
                                f"`mpo data make --task TASK --setting SETTING --out {dataset}`")
    return json.loads(manifest.read_text())["checksum"]


def run_suite(specs: list[tuple[str, str, Path]], plan: SuitePlan, cache: Path,
              log: Callable[[str], None] = print,
              task_plans: Mapping[str, SuitePlan] | None = None,
              compute: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """specs: (task, setting, dataset dir; a RESAMPLED setting's is clean's, its runs flipping their own labels);
    task_plans: a task's own plan where it differs from `plan` (e.g. a larger inner budget); compute False: only
    cached results (a report of a run still going elsewhere), a setting without one is left out, and a setting
    whose dataset is not on this machine is reported from its cached result (marked `dataset_here: False`; the
    result names its data by checksum). Returns
    {task: {setting: result}}."""
    if compute:
        cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for task, setting, dataset in specs:
        plan_t = (task_plans or {}).get(task, plan)
        label_flip = setting_source(setting)[1]
        path = cache / f"{task}__{setting}.json"
        here = compute or (dataset / "manifest.json").exists()
        checksum = _checksum(dataset) if here else None
        first_stage = None
        if path.exists():
            old = json.loads(path.read_text())
            same_data = old.get("label_flip", 0.0) == label_flip and (not here or old.get("checksum") == checksum)
            if same_data and recorded_plan(old.get("plan", {})) == plan_t.to_json():
                log(f"{task}/{setting}: reusing {path}" + ("" if here else
                    f" (dataset {dataset} not on this machine; the result's data: checksum {old.get('checksum')})"))
                results.setdefault(task, {})[setting] = old if here else {**old, "dataset_here": False}
                continue
            strip = lambda p: {k: v for k, v in p.items() if k not in CONFIRM_FIELDS}  # noqa: E731
            # only the confirmation differs, on this machine and these packages: the first stage's runs are the same
            # (a result that does not name its machine is not reused: across CPUs the same runs differ)
            if (compute and same_data and here and old.get("versions") == versions()
                    and strip(recorded_plan(old.get("plan", {}))) == strip(plan_t.to_json())):
                first_stage = old["grid"]
            log(f"{task}/{setting}: {path} was made with another plan or dataset; "
                + ("left out" if not compute else "recomputing"
                   + (" (only the confirmation differs: its first stage is reused)" if first_stage else "")))
        if not compute:
            continue
        log(f"{task}/{setting}: {dataset}")
        r = run_setting(tasks.repo_relative(dataset), plan_t, log, label_flip, first_stage)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(r) + "\n")
        os.replace(tmp, path)  # a kill never leaves a half-written result behind
        log(f"{task}/{setting}: done in {r['seconds']['total']:.0f} s -> {path}")
        results.setdefault(task, {})[setting] = r
    return results


def flip_settings(results: dict[str, dict[str, Any]]) -> dict[float, str]:
    """The clean setting and the noisy datasets that differ from it only in their flip rate (one flip
    realization per rate)."""
    def key(props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k not in ("flip_eps", "setting")}

    clean = results.get("clean")
    if clean is None:
        return {}
    return {r["properties"]["flip_eps"]: s for s, r in results.items()
            if not r.get("label_flip", 0.0) and key(r["properties"]) == key(clean["properties"])}


def resampled_settings(results: dict[str, dict[str, Any]]) -> dict[float, str]:
    """The clean setting and the settings on clean's own data whose inner runs each flip labels of their own
    realization, by flip rate ({} when there are none)."""
    clean = results.get("clean")
    if clean is None:
        return {}
    out = {r["label_flip"]: s for s, r in results.items()
           if r.get("label_flip", 0.0) > 0 and r.get("checksum") == clean.get("checksum")}
    return {0.0: "clean", **out} if out else {}


def write_report(results: dict[str, dict[str, dict[str, Any]]], plan: SuitePlan, out: Path, command: str,
                 intro: str = "", not_run: list[str] = (),
                 task_plans: Mapping[str, SuitePlan] | None = None) -> dict[str, Any]:
    claims = []
    for task, res in results.items():
        flips = flip_settings(res)
        claims += criteria(task, res, flips, [s for s in res if s != flips.get(0.0)], resampled_settings(res))
    png = plot_suite(results, out.with_suffix(".png"))
    lines = ["# Diagnostic suite", "", f"Produced by `{command}`.", ""]
    if intro:
        lines += [intro.strip(), ""]
    lines += [f"Panel: {', '.join(plan.panel)}, each tuned on beta x {list(plan.beta_scales)} (of its default) x "
              f"learning rate {list(plan.learning_rates)} by the mean of {plan.validation_seeds} validation seeds, "
              + (f"each loss's {plan.confirm_cells} best cells then by the mean of {plan.confirm_seeds}, "
                 if plan.confirm_cells else "")
              + f"then scored on {plan.test_seeds} test seeds x {plan.episodes} episodes ({plan.steps} steps x "
              f"{plan.batch_size} pairs). Every loss and the reference share the test seeds' evaluation keys, so "
              "differences are paired: mean ± 95% t-interval over test seeds; * marks an interval excluding 0. "
              "The normalized score is 100 * (R - R_random) / (R_expert - R_random).", ""]
    for task, p in (task_plans or {}).items():
        changed = {k: v for k, v in p.to_json().items() if v != plan.to_json()[k]}
        if changed:
            lines += [f"{task} has its own plan: " + ", ".join(f"{k} {v}" for k, v in changed.items()) + ".", ""]
    lines += ["## Claims, checked", "", "| task | claim | measured | holds |", "|---|---|---|---|"]
    lines += [f"| {c['task']} | {c['claim']} | {c['measured']} | {'yes' if c['holds'] else '**no**'} |" for c in claims]
    if not_run:
        lines += ["", "Not run (their claims are not checked above): " + "; ".join(not_run) + "."]
    away = [f"{t}/{s} ({r.get('checksum', '?')[:8]})" for t, res in results.items() for s, r in res.items()
            if r.get("dataset_here") is False]
    if away:
        lines += ["", "Reported from the cache, their datasets not on the machine that wrote this report (each "
                  "result names its data by checksum, first 8 hex digits here): " + ", ".join(away) + "."]
    if len(plan.panel) < 2:
        lines += ["", f"The panel is one loss ({plan.panel[0]}): no setting's separation claim is checked."]
    lines += ["", f"![suite]({png.name})", ""]
    for task, res in results.items():
        lines += [f"## {task}", ""] + [setting_markdown(task, s, r) for s, r in res.items()]
    lines += ["## Environment", "", "```", json.dumps(versions(), indent=1), "```", ""]
    out.write_text("\n".join(lines))
    summary = {"command": command, "plan": plan.to_json(),
               "task_plans": {t: p.to_json() for t, p in (task_plans or {}).items()},
               "claims": claims, "not_run": list(not_run),
               "results": results}
    strict_json.write(out.with_suffix(".json"), summary, indent=1)
    return summary
