"""Render an ExportSource as one self-contained PyTorch file: the template's code (template.py, read as
text) with the point's coefficients and the family's constants as literals, its provenance in the
docstring and in PROVENANCE. The file needs only torch; its TRL trainer imports TRL on first use."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from discovery.export.source import ExportSource
from search_spaces.links import CORRECTION_CENTERS, LINK_BASIS, SIDE_BASIS
from search_spaces.mirror_maps import MIRROR_BASIS, PL_KNOTS, TSALLIS_Q
from search_spaces.mpo import FIELDS
from search_spaces.primitives import EXP_CAP, LOGP_CAP

TEMPLATE = Path(__file__).with_name("template.py")
BEGIN, END = "# >>> PARAMETERS", "# <<< PARAMETERS"
NAME = "Mirror Preference Optimization"
# The TRL release the trainer was tested with (tests/discovery/export/test_trl.py); README says the same.
TESTED_TRL = "1.16.0"

# The bases template.py implements, in this order; a family that grows a basis needs a template that does.
TEMPLATE_MIRROR = ("log", "logit") + tuple(f"tsallis_{q:g}" for q in TSALLIS_Q)
TEMPLATE_LINK = ("logistic", "logistic_neg", "squared", "hinge", "exp", "sigmoid_neg", "discopop")
TEMPLATE_SIDE = ("logistic", "logistic_neg", "sigmoid", "sigmoid_neg", "squared_minus", "squared_plus")


def _check_family() -> None:
    for what, family, template in (("mirror", MIRROR_BASIS, TEMPLATE_MIRROR), ("link", LINK_BASIS, TEMPLATE_LINK),
                                   ("side", SIDE_BASIS, TEMPLATE_SIDE)):
        if tuple(family) != template:
            raise RuntimeError(f"export: the family's {what} basis {family} differs from the one "
                               f"discovery/export/template.py implements {template}; update the template")


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(repr(float(v)) for v in value) + "]"
    return repr(float(value))


def _table(name: str, values: dict[str, Any], comment: str) -> str:
    rows = "".join(f"    {k!r}: {_literal(v)},\n" for k, v in values.items())
    return f"{name} = {{  # {comment}\n{rows}}}\n"


def parameter_block(source: ExportSource) -> str:
    _check_family()
    ast.literal_eval(repr(source.provenance))  # PROVENANCE must be a plain literal (no inf, no objects)
    box = {name: (float(f.low), float(f.high), f.transform) for name, f in FIELDS.items()}
    lines = [
        _table("BASE", source.base, "field -> unconstrained coordinate at tau = 0"),
        _table("SLOPE", source.slope, "field -> its slope in tau (TA-MPO); natural = transform(clip(base + tau * slope))"),
        "BOX = {  # field -> (low, high, transform) in unconstrained coordinates\n"
        + "".join(f"    {k!r}: ({lo!r}, {hi!r}, {t!r}),\n" for k, (lo, hi, t) in box.items()) + "}\n",
        f"MIRROR_BASIS = {tuple(MIRROR_BASIS)!r}",
        f"TSALLIS_Q = {tuple(float(q) for q in TSALLIS_Q)!r}",
        f"PL_KNOTS = {tuple(float(k) for k in PL_KNOTS)!r}",
        f"LINK_BASIS = {tuple(LINK_BASIS)!r}",
        f"SIDE_BASIS = {tuple(SIDE_BASIS)!r}",
        f"CORRECTION_CENTERS = {tuple(float(c) for c in CORRECTION_CENTERS)!r}",
        f"EXP_CAP = {float(EXP_CAP)!r}",
        f"LOGP_CAP = {float(LOGP_CAP)!r}",
        f"TESTED_TRL = {TESTED_TRL!r}",
        f"PROVENANCE = {source.provenance!r}",
    ]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def docstring(source: ExportSource, command: str) -> str:
    p = source.provenance
    if p["source"] == "run":
        origin = (f"run directory {p['run_dir']}, generation {p['generation']} (fitness during the search "
                  f"{p['fitness_during_search']}), config sha256 {p['config_sha256']}")
    else:
        origin = f"the zoo loss {p['loss']} as a point of the family"
    versions = p.get("run_versions") or {}
    lines = [
        f"{NAME} loss, exported by mpo-discovery.",
        "",
        f"Source: {origin}.",
        f"Command: {command}",
        "Exported with: " + ", ".join(f"{k} {v}" for k, v in p["exported_with"].items()) + ".",
    ]
    if versions:
        lines.append("The run's package versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    lines += [
        "",
        "Coefficients (natural values; tau is the training progress in [0, 1]):",
        "  tau = 0: " + json.dumps(p["coefficients_tau0"]),
        "  tau = 1: " + json.dumps(p["coefficients_tau1"]),
        "",
        "The family (the JAX reference is search_spaces/mpo.py of mpo-discovery; this file computes the same",
        "operations on summed log-probs and token counts):",
        "  s(y) = n^-lam * sum_t log p(y_t);  m(u) = sum_i w_i b_i(u) + PL(u);",
        "  r(y) = beta * (m(s_pi(y)) - c_ref * m(s_ref(y)));  z = r_w - r_l - gamma + alpha * (n_w - n_l);",
        "  loss = scale * [g(z) + h_w(r_w) + h_l(r_l)] + w_sft * (-sum log pi(y_w) / n_w).",
        "",
        "Use (needs only torch):",
        "    from <this module> import loss",
        "    per_pair = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,",
        "                    chosen_lengths, rejected_lengths, tau=step / total_steps)  # [B]; train on .mean()",
        "",
        f"With TRL 1.x (tested with TRL {TESTED_TRL}; TRL is imported on first use):",
        "    from <this module> import MirrorPreferenceOptimizationTrainer",
        "    trainer = MirrorPreferenceOptimizationTrainer(model=model, ref_model=ref_model, args=DPOConfig(...),",
        "                                                  train_dataset=dataset, processing_class=tokenizer)",
        "",
        "Generated file: re-export rather than edit the numbers (PROVENANCE records where they come from).",
    ]
    return '"""' + _escape("\n".join(lines)) + '\n"""\n'


def render(source: ExportSource, command: str = "mpo export") -> str:
    """The exported file's text."""
    text = TEMPLATE.read_text()
    body = text.splitlines(keepends=True)
    doc_end = ast.parse(text).body[0].end_lineno  # the template's own docstring: replaced
    rest = "".join(body[doc_end:])
    head, sep, tail = rest.partition(BEGIN)
    _, sep2, tail = tail.partition(END)
    if not (sep and sep2):
        raise RuntimeError(f"export: {TEMPLATE} has lost its {BEGIN} / {END} markers")
    tail = tail.split("\n", 1)[1]  # drop the rest of the END marker line
    out = (docstring(source, command) + head + "# Parameters of this loss and constants of the family "
           "(rendered by mpo-discovery).\n" + parameter_block(source) + tail)
    compile(out, "<exported loss>", "exec")  # a rendering bug fails here, not in the user's training job
    return out
