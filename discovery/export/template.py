"""The body of every file `mpo export` writes (discovery/export/torch_source.py renders it).

This module is never imported by the package: torch_source.py reads its text, replaces the block between
the PARAMETERS markers with the exported point's literals, and writes the result as one self-contained
file that needs only torch (TRL only for MirrorPreferenceOptimizationTrainer, imported on first use).
It mirrors search_spaces/mpo.py, mirror_maps.py, links.py and primitives.py operation by operation;
tests/discovery/export/test_parity.py holds the two equal in values and gradients.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# >>> PARAMETERS (rendered by discovery/export/torch_source.py; placeholders here)
BASE: dict = {}  # field -> unconstrained coordinate at tau = 0 (float or list of floats)
SLOPE: dict = {}  # field -> its slope in tau (TA-MPO)
BOX: dict = {}  # field -> (low, high, "identity" | "exp"): natural value = transform(clip(base + tau * slope))
MIRROR_BASIS: tuple = ()
TSALLIS_Q: tuple = ()
PL_KNOTS: tuple = ()
LINK_BASIS: tuple = ()
SIDE_BASIS: tuple = ()
CORRECTION_CENTERS: tuple = ()
EXP_CAP = 0.0
LOGP_CAP = 0.0
TESTED_TRL = ""
# <<< PARAMETERS

NAME = "Mirror Preference Optimization"


# --- coefficients at training progress tau (search_spaces.mpo.resolve) -----------------------------

def _effective_weights(weights: list[float]) -> list[float]:
    """Mirror-map basis weights on the simplex; all-zero weights become the log map (mirror_maps.py)."""
    w = [max(v, 0.0) for v in weights]
    total = sum(w)
    if total > 1e-6:
        return [v / total for v in w]
    return [1.0] + [0.0] * (len(w) - 1)


def coefficients(tau: float = 0.0) -> dict:
    """Natural coefficient values at training progress tau in [0, 1] (clipped into their boxes)."""
    tau = min(max(float(tau), 0.0), 1.0)

    def one(base: float, slope: float, low: float, high: float, transform: str) -> float:
        u = min(max(base + tau * slope, low), high)
        return math.exp(u) if transform == "exp" else u

    out = {}
    for name, (low, high, transform) in BOX.items():
        base, slope = BASE[name], SLOPE[name]
        if isinstance(base, list):
            value = [one(b, s, low, high, transform) for b, s in zip(base, slope)]
        else:
            value = one(base, slope, low, high, transform)
        out[name[4:] if name.startswith("log_") else name] = value
    out["mirror_w"] = _effective_weights(out["mirror_w"])
    return out


# --- numerics guards (search_spaces/primitives.py) ---------------------------------------------------

def _const(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def _vec(values: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _f_dpo(z: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(z) = log(1 + e^-z), stable for any z."""
    return -F.logsigmoid(z)


def _exp_neg(z: torch.Tensor) -> torch.Tensor:
    """e^-z with the exponent capped at EXP_CAP (finite for any margin)."""
    return torch.exp(torch.minimum(-z, _const(EXP_CAP, z)))


def _log1mexp(u: torch.Tensor) -> torch.Tensor:
    """log(1 - e^u) for u < 0, stable on both sides of -log 2; u capped at LOGP_CAP (a probability of 1)."""
    u = torch.minimum(u, _const(LOGP_CAP, u))
    far = u < -math.log(2.0)
    # Each branch sees only inputs valid for it, so the unused branch cannot put NaN into the gradient.
    u_far = torch.where(far, u, _const(-1.0, u))
    u_near = torch.where(far, _const(-0.1, u), u)
    return torch.where(far, torch.log1p(-torch.exp(u_far)), torch.log(-torch.expm1(u_near)))


def _discopop_blend(z: torch.Tensor, temperature: float) -> torch.Tensor:
    w = torch.sigmoid(z / temperature)
    return (1.0 - w) * _f_dpo(z) + w * _exp_neg(z)


# --- the mirror map (search_spaces/mirror_maps.py) ---------------------------------------------------

def _basis_maps(u: torch.Tensor) -> torch.Tensor:
    maps = [u, u - _log1mexp(u)]
    # exp(.) - 1 rather than expm1, as the JAX family (whose expm1 gradient vanishes below about -37).
    maps += [(torch.exp((q - 1.0) * u) - 1.0) / (q - 1.0) for q in TSALLIS_Q]
    return torch.stack(maps, dim=-1)


def _piecewise_linear(u: torch.Tensor, slopes: list[float]) -> torch.Tensor:
    """Monotone piecewise-linear map, 0 at u = 0, slope slopes[i] between knots i and i + 1."""
    hi = _vec(list(PL_KNOTS[:-1]), u)
    lo = _vec(list(PL_KNOTS[1:-1]) + [-math.inf], u)
    seg = torch.minimum(torch.maximum(u[..., None], lo), hi) - hi
    return (seg * _vec(slopes, u)).sum(dim=-1)


def _mirror_map(u: torch.Tensor, c: dict) -> torch.Tensor:
    return _basis_maps(u) @ _vec(c["mirror_w"], u) + _piecewise_linear(u, c["mirror_pl"])


# --- links and one-sided terms (search_spaces/links.py) ----------------------------------------------

def _link_basis(z: torch.Tensor, discopop_tau: float) -> torch.Tensor:
    return torch.stack(
        [_f_dpo(z), _f_dpo(-z), (z - 0.5) ** 2, torch.relu(1.0 - z), _exp_neg(z), torch.sigmoid(-z),
         _discopop_blend(z, discopop_tau)],
        dim=-1,
    )


def _link_correction(z: torch.Tensor, coeffs: list[float]) -> torch.Tensor:
    return torch.sigmoid(z[..., None] - _vec(list(CORRECTION_CENTERS), z)) @ _vec(coeffs, z)


def _side_basis(r: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [_f_dpo(r), _f_dpo(-r), torch.sigmoid(r), torch.sigmoid(-r), (r - 0.5) ** 2, (r + 0.5) ** 2], dim=-1
    )


# --- the loss (search_spaces/mpo.py) -----------------------------------------------------------------

def _inputs(*tensors):
    """Common floating dtype (float32 or float64; half precision is computed in float32) and device."""
    out = [torch.as_tensor(t) for t in tensors]
    dtype = out[0].dtype if out[0].is_floating_point() else torch.float32
    for t in out[1:]:
        if t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float32
    device = out[0].device
    return [t.to(device=device, dtype=dtype) for t in out]


def _lengths(n: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Token counts as floats, clamped to >= 1 as TRL and the JAX family do."""
    return torch.clamp(torch.as_tensor(n).to(device=like.device, dtype=like.dtype), min=1.0)


def _check_shapes(**tensors) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) != 1:
        raise ValueError(f"{NAME} loss: expected 1-D per-pair tensors [B], got {shapes}")
    bad = {k: v for k, v in shapes.items() if v != first}
    if bad:
        raise ValueError(f"{NAME} loss: every input must have shape {first}; got {bad}")


def _score(logps: torch.Tensor, n: torch.Tensor, lam: float) -> torch.Tensor:
    """s(y) = n^-lam * sum_t log p(y_t), from the summed log-prob and the token count."""
    return torch.exp(-lam * torch.log(n)) * logps


def _reward(c: dict, policy_logps: torch.Tensor, ref_logps: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    m_pi = _mirror_map(_score(policy_logps, n, c["lam"]), c)
    m_ref = _mirror_map(_score(ref_logps, n, c["lam"]), c)
    return c["beta"] * (m_pi - c["c_ref"] * m_ref)


def implicit_rewards(policy_logps, ref_logps, lengths, tau: float = 0.0) -> torch.Tensor:
    """r(y) = beta * (m(s_pi(y)) - c_ref * m(s_ref(y))) per response [B]: the reward this loss implies."""
    policy_logps, ref_logps = _inputs(policy_logps, ref_logps)
    _check_shapes(policy_logps=policy_logps, ref_logps=ref_logps, lengths=torch.as_tensor(lengths))
    return _reward(coefficients(tau), policy_logps, ref_logps, _lengths(lengths, policy_logps))


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
         chosen_lengths, rejected_lengths, tau: float = 0.0) -> torch.Tensor:
    """Per-pair Mirror Preference Optimization losses [B].

    Inputs are per pair [B]: SUMMED completion log-probs of the policy and of the reference for the chosen
    and rejected responses (what TRL's DPOTrainer computes), and the completion token counts (clamped to
    >= 1). tau is the training progress in [0, 1] (temporal coefficients; clipped). float32 and float64
    inputs are computed in their own dtype, half precision in float32. Differentiable in all four log-probs.
    """
    pw, pl, rw, rl = _inputs(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    _check_shapes(policy_chosen_logps=pw, policy_rejected_logps=pl, ref_chosen_logps=rw, ref_rejected_logps=rl,
                  chosen_lengths=torch.as_tensor(chosen_lengths), rejected_lengths=torch.as_tensor(rejected_lengths))
    c = coefficients(tau)
    n_w, n_l = _lengths(chosen_lengths, pw), _lengths(rejected_lengths, pw)
    r_w, r_l = _reward(c, pw, rw, n_w), _reward(c, pl, rl, n_l)
    z = r_w - r_l - c["gamma"] + c["alpha"] * (n_w - n_l)
    pref = (
        _link_basis(z, c["discopop_tau"]) @ _vec(c["link_w"], z)
        + _link_correction(z, c["link_corr"])
        + _side_basis(r_w) @ _vec(c["side_w"], z)
        + _side_basis(r_l) @ _vec(c["side_l"], z)
    )
    return c["scale"] * pref - c["w_sft"] * (pw / n_w)


# --- TRL: a DPOTrainer that trains with this loss (TRL imported on first use) ------------------------

_TRAINER_CLASS = None
# DPOConfig fields the loss replaces: they must keep TRL's default, or the run would not be what it says.
_REPLACED = {"loss_type": ["sigmoid"], "loss_weights": None, "ld_alpha": None, "f_divergence_type": "reverse_kl",
             "use_weighting": False}
# DPOConfig fields this loss does not read (it has its own beta, label smoothing, DiscoPOP temperature).
_UNUSED = {"beta": 0.1, "label_smoothing": 0.0, "discopop_tau": 0.05}


def __getattr__(name):
    if name == "MirrorPreferenceOptimizationTrainer":
        return trainer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def trainer_class():
    """The TRL DPOTrainer subclass that trains with this loss (built once, on first use)."""
    global _TRAINER_CLASS
    if _TRAINER_CLASS is None:
        _TRAINER_CLASS = _build_trainer_class()
    return _TRAINER_CLASS


def _build_trainer_class():
    import warnings

    try:
        import trl
        from trl import DPOTrainer
    except ImportError as err:
        raise ImportError(f"MirrorPreferenceOptimizationTrainer needs TRL 1.x (tested with TRL {TESTED_TRL}): "
                          f"pip install 'trl>={TESTED_TRL}'; the loss() function alone needs only torch") from err
    missing = [a for a in ("_compute_loss", "compute_ref_log_probs") if not hasattr(DPOTrainer, a)]
    if missing or int(trl.__version__.split(".")[0]) < 1:
        raise ImportError(f"MirrorPreferenceOptimizationTrainer targets TRL 1.x's DPOTrainer (tested with TRL "
                          f"{TESTED_TRL}); TRL {trl.__version__} is installed")

    class MirrorPreferenceOptimizationTrainer(DPOTrainer):
        """TRL's DPOTrainer, training with the exported Mirror Preference Optimization loss.

        compute_loss runs the policy (and the reference, unless its log-probs are precomputed) exactly as
        TRL 1.x's DPOTrainer does, sums the completion log-probs, takes the completion token counts from
        `completion_mask`, and applies `loss(...)` at tau = global_step / max_steps. It logs TRL's metrics
        rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies (with this loss's implicit
        reward r = beta * (m(s_pi) - c_ref * m(s_ref)); equal to TRL's for the DPO point), logps/chosen,
        logps/rejected, num_tokens and tau. DPOConfig's loss_type, loss_weights, ld_alpha,
        f_divergence_type and use_weighting must keep their defaults; beta, label_smoothing and
        discopop_tau are not used (the exported loss has its own coefficients).
        """

        _tag_names = [*getattr(DPOTrainer, "_tag_names", ["trl", "dpo"]), "mirror-preference-optimization"]
        _name = NAME

        def __init__(self, model, ref_model=None, args=None, *rest, **kwargs):
            if args is not None:
                for field, default in _REPLACED.items():
                    value = getattr(args, field, default)
                    if value != default:
                        raise ValueError(f"DPOConfig.{field} = {value!r}: the {NAME} loss replaces it; "
                                         f"leave it at its default {default!r}")
                for field, default in _UNUSED.items():
                    value = getattr(args, field, default)
                    if value != default:
                        warnings.warn(f"DPOConfig.{field} = {value!r} is not used by the {NAME} loss, which "
                                      "has its own coefficients (see the exported file's docstring)", stacklevel=2)
            super().__init__(model, ref_model, args, *rest, **kwargs)

        def training_progress(self) -> float:
            max_steps = self.state.max_steps
            return min(self.state.global_step / max_steps, 1.0) if max_steps else 0.0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            non_model_keys = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
            model_kwargs = {k: v for k, v in inputs.items() if k not in non_model_keys}
            model_kwargs["use_cache"] = False
            if self.aux_loss_enabled:
                model_kwargs["output_router_logits"] = True
            completion_mask = inputs["completion_mask"]
            shift_completion_mask = completion_mask[..., 1:]
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
            seq_len = shift_completion_mask.size(1)
            # log_probs are 0 where the label is -100, so the row sum is the summed completion log-prob
            logps = outputs.log_probs[:, -seq_len:].sum(dim=1)
            chosen_logps, rejected_logps = logps.chunk(2, dim=0)  # the batch is [chosen, rejected]
            chosen_lengths, rejected_lengths = shift_completion_mask.sum(dim=1).chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                # the reference model, or with PEFT the policy with its adapter disabled (TRL's own method)
                reference = self.ref_model if self.ref_model is not None else self.model
                ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(reference, inputs)
            tau = self.training_progress()
            per_pair = loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps,
                            chosen_lengths, rejected_lengths, tau=tau)
            total = per_pair.mean()
            if self.aux_loss_enabled:
                aux_loss = outputs.aux_loss
                total = total + self.router_aux_loss_coef * aux_loss
                self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())

            with torch.no_grad():
                chosen_rewards = implicit_rewards(chosen_logps.detach(), ref_chosen_logps, chosen_lengths, tau)
                rejected_rewards = implicit_rewards(rejected_logps.detach(), ref_rejected_logps, rejected_lengths, tau)
            metrics = self._metrics[mode]
            if mode == "train":
                tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
                self._total_train_tokens += tokens // getattr(self, "_tp_size", 1)
            metrics["num_tokens"] = [self._total_train_tokens]
            metrics["rewards/chosen"].append(self.accelerator.gather(chosen_rewards).mean().item())
            metrics["rewards/rejected"].append(self.accelerator.gather(rejected_rewards).mean().item())
            metrics["rewards/accuracies"].append(
                self.accelerator.gather((chosen_rewards > rejected_rewards).float()).mean().item())
            metrics["rewards/margins"].append(self.accelerator.gather(chosen_rewards - rejected_rewards).mean().item())
            metrics["logps/chosen"].append(self.accelerator.gather(chosen_logps.detach()).mean().item())
            metrics["logps/rejected"].append(self.accelerator.gather(rejected_logps.detach()).mean().item())
            metrics["tau"].append(tau)
            if return_outputs:  # as TRL: the fused LM head builds no logits, so recompute them
                with torch.no_grad():
                    outputs = model(**model_kwargs)
                return total, outputs
            return total

    MirrorPreferenceOptimizationTrainer.__module__ = __name__
    return MirrorPreferenceOptimizationTrainer
