"""BENCHMARKS.md from `mpo bench` results (plus the raw numbers as JSON beside it)."""
from __future__ import annotations

from typing import Any


def _g(x: float) -> str:
    return f"{x / 1e9:.1f}"


def render(results: dict[str, Any], command: str, wall_s: float) -> str:
    m, v = results["machine"], results["versions"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` in {wall_s / 60:.1f} min. Machine: {m['cpu']}, {m['cores']} cores, "
        f"backend {m['backend']} ({len(m['devices'])} device(s)); {m['platform']}.",
        f"Versions: jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, brax {v.get('brax')}, mujoco-mjx {v.get('mujoco-mjx')}, "
        f"mujoco {v.get('mujoco')}, evosax {v.get('evosax')}, python {v.get('python')}.",
        "",
        "Every number below comes from one run of the command, measured side by side; on a shared CPU "
        "absolute times drift, the ratios are what to read. An inner run = one candidate loss x one seed: "
        "fine-tune the reference policy (K optax steps) and evaluate it in MJX. The loop and the 1-device "
        "populations run in one process with jax's default single CPU device; the sharded population runs in a "
        "child process whose CPU is split into devices (`mpo search --cpu-devices N`), each running its share "
        "of candidates as its own stream of work. The speedup uses the fastest population column.",
        "",
    ]
    for c in results["configs"]:
        inner, ev = c["inner"], c["eval"]
        n_dev = c.get("cpu_devices", 1)
        lines += [
            f"## `{c['config']}` ({c['dataset']}: {inner['steps']} steps x {inner['batch_size']} pairs of "
            f"{c['split']['horizon']}-step responses, {ev['episodes']} x {c['split']['episode_length']}-step "
            "evaluation episodes)",
            "",
            "| P | Python loop of the jitted single run (s) | vmapped population (s) | chunked "
            f"(chunk {results['plan']['chunk']}) (s) | sharded over {n_dev} CPU devices (s) | runs/s (best) | "
            "speedup over loop | compile (s) | peak memory vmap / chunked (MiB) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in c["rows"]:
            ch, sh = r.get("chunked_s"), r.get("sharded_s")
            ch_mb = "-" if ch is None else f"{r['chunked_peak_mb']:.0f}"
            lines.append(
                f"| {r['P']} | {r['loop_s']:.2f}{' (est.)' if r.get('loop_extrapolated') else ''} | {r['vmap_s']:.2f} | "
                f"{'-' if ch is None else f'{ch:.2f}'} | {'-' if sh is None else f'{sh:.2f}'} | "
                f"{r['runs_per_s']:.2f} | **{r['speedup']:.2f}x** | {r['vmap_compile_s']:.1f} | "
                f"{r['vmap_peak_mb']:.0f} / {ch_mb} |")
        s = c["split"]
        lines += [
            "",
            f"Split at P = {s['P']}: training {s['train_s']:.2f} s, evaluation {s['eval_s']:.2f} s "
            f"(training {s['train_fraction']:.0%} of the run).",
            "",
            f"- Training: {s['train_step_flops'] / 1e6:.1f} MFLOP per optax step (XLA cost analysis) -> "
            f"**{_g(s['train_flops_per_s'])} GFLOP/s**, **{s['train_fraction_of_matmul']:.0%}** of a jitted "
            f"matmul of the training's GEMM shape {' x '.join(map(str, s['gemm_shape']))} "
            f"({_g(s['matmul_flops_per_s'])} GFLOP/s; 1024^3: {_g(s['matmul_1024_flops_per_s'])} GFLOP/s).",
            f"- Evaluation: MJX **{s['mjx_physics_steps_per_s']:,.0f} physics steps/s** "
            f"({s['n_frames']} physics steps per env step, {s['P'] * s['episodes']} episodes in one batch) vs "
            f"MuJoCo C {s['mujoco_c_steps_per_s_1thread']:,.0f} (1 thread) / "
            f"{s['mujoco_c_steps_per_s_all_threads']:,.0f} ({s['threads']} threads) on the same model: "
            f"MJX reaches {s['mjx_physics_steps_per_s'] / s['mujoco_c_steps_per_s_all_threads']:.1%} of C here.",
            "",
        ]
    return "\n".join(lines) + "\n"
