"""The text policy: a small causal transformer (flax linen) over [prompt, SEP, response] token sequences.

The model reads the prompt (k tokens), SEP and the response so far, and position k + j predicts response
token j, so one teacher-forced pass gives every response token's log-probability (training, preference
log-probs) and sampling is a `lax.scan` over the T response positions (no KV cache: T is tiny, and a fixed
buffer keeps every shape static, which is what jit/vmap over thousands of policies need). The parameters
are a plain pytree; SFT training is one jitted `lax.scan` of optax steps.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from envs import pytree_io
from envs.text.task import EOS, SEP, response_mask


@dataclasses.dataclass(frozen=True)
class TextPolicySpec:
    vocab: int
    prompt_len: int
    max_len: int
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    d_mlp: int = 64

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model: {self.d_model} must be a multiple of n_heads={self.n_heads}")
        for name in ("vocab", "prompt_len", "max_len", "d_model", "n_layers", "n_heads", "d_mlp"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: got {getattr(self, name)}; allowed values: >= 1")

    @property
    def seq_len(self) -> int:
        """Model input length: prompt, SEP, and the first T - 1 response tokens."""
        return self.prompt_len + self.max_len

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TextPolicySpec":
        return TextPolicySpec(**{f.name: int(d[f.name]) for f in dataclasses.fields(TextPolicySpec)})


class Block(nn.Module):
    d_model: int
    n_heads: int
    d_mlp: int

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        h = nn.LayerNorm()(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=self.n_heads, qkv_features=self.d_model)(h, h, mask=mask)
        h = nn.LayerNorm()(x)
        return x + nn.Dense(self.d_model)(nn.gelu(nn.Dense(self.d_mlp)(h)))


class TinyCausalLM(nn.Module):
    """tokens [..., L] -> next-token logits [..., L, V]."""

    vocab: int
    seq_len: int
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        L = tokens.shape[-1]
        x = nn.Embed(self.vocab, self.d_model)(tokens)
        pos = self.param("pos", nn.initializers.normal(0.02), (self.seq_len, self.d_model))
        x = x + pos[:L]
        mask = nn.make_causal_mask(jnp.ones(tokens.shape, jnp.int32))
        for _ in range(self.n_layers):
            x = Block(self.d_model, self.n_heads, self.d_mlp)(x, mask)
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))


def _module(spec: TextPolicySpec) -> TinyCausalLM:
    return TinyCausalLM(spec.vocab, spec.seq_len, spec.d_model, spec.n_layers, spec.n_heads, spec.d_mlp)


def init_params(spec: TextPolicySpec, key: jax.Array) -> Any:
    return _module(spec).init(key, jnp.zeros((spec.seq_len,), jnp.int32))


Apply = Callable[[Any, jax.Array], jax.Array]


def make_apply(spec: TextPolicySpec) -> Apply:
    """Pure `apply(params, tokens[..., L]) -> logits[..., L, V]`."""
    module = _module(spec)
    return lambda params, tokens: module.apply(params, tokens)


def model_input(spec: TextPolicySpec, prompts: jax.Array, responses: jax.Array) -> jax.Array:
    """[..., k + T]: prompt, SEP, response[:-1] (the last response token is only ever predicted)."""
    sep = jnp.full(prompts.shape[:-1] + (1,), SEP, jnp.int32)
    return jnp.concatenate([prompts, sep, responses[..., :-1]], axis=-1)


def response_logits(apply: Apply, spec: TextPolicySpec, params: Any, prompts: jax.Array,
                    responses: jax.Array) -> jax.Array:
    """[..., T, V] logits of every response position (teacher forcing)."""
    return apply(params, model_input(spec, prompts, responses))[..., spec.prompt_len:, :]


def token_log_probs(apply: Apply, spec: TextPolicySpec, params: Any, prompts: jax.Array, responses: jax.Array,
                    mask: jax.Array) -> jax.Array:
    """[..., T] log pi(y_j | x, y_<j) on the response's tokens, 0 on padding."""
    logp = jax.nn.log_softmax(response_logits(apply, spec, params, prompts, responses), -1)
    lp = jnp.take_along_axis(logp, responses[..., None].astype(jnp.int32), -1)[..., 0]
    return jnp.where(mask, lp, 0.0)


def sample(apply: Apply, spec: TextPolicySpec, params: Any, prompts: jax.Array, key: jax.Array,
           temperature: float | jax.Array = 1.0) -> tuple[jax.Array, jax.Array]:
    """Sample responses [B, T] to prompts [B, k]; tokens after the first EOS are EOS, mask marks the response
    (EOS included). One `lax.scan` over positions, each a full forward pass over the static buffer."""
    chex.assert_rank(prompts, 2)
    B, k, T = prompts.shape[0], spec.prompt_len, spec.max_len
    temp = jnp.broadcast_to(jnp.asarray(temperature, jnp.float32), (B,))[:, None]  # scalar or one per prompt
    buf = jnp.concatenate([prompts, jnp.full((B, 1), SEP, jnp.int32), jnp.full((B, T - 1), EOS, jnp.int32)], 1)

    def step(carry, j_key):
        buf, done = carry
        j, kk = j_key
        logits = jax.lax.dynamic_index_in_dim(apply(params, buf), k + j, axis=1, keepdims=False)
        tok = jax.random.categorical(kk, logits / temp, axis=-1).astype(jnp.int32)
        tok = jnp.where(done, EOS, tok)
        # Write token j at buffer position k + 1 + j (the last one has no slot and is not needed).
        pos = jnp.minimum(k + 1 + j, buf.shape[1] - 1)
        new = jax.lax.dynamic_update_slice_in_dim(buf, tok[:, None], pos, axis=1)
        buf = jnp.where(j < T - 1, new, buf)
        return (buf, done | (tok == EOS)), tok

    _, toks = jax.lax.scan(step, (buf, jnp.zeros((B,), bool)), (jnp.arange(T), jax.random.split(key, T)))
    toks = toks.T
    return toks, response_mask(toks)


def sequence_kl(apply: Apply, spec: TextPolicySpec, params: Any, ref_params: Any, prompts: jax.Array,
                responses: jax.Array, mask: jax.Array) -> jax.Array:
    """[B] KL(pi || pi_ref) estimate from responses sampled from pi: the sum over the response's positions of
    the exact next-token KL given the sampled prefix (unbiased for the sequence KL, lower variance than the
    log-ratio of the sampled tokens, and never negative)."""
    lp = jax.nn.log_softmax(response_logits(apply, spec, params, prompts, responses), -1)
    lq = jax.nn.log_softmax(response_logits(apply, spec, ref_params, prompts, responses), -1)
    per_pos = jnp.sum(jnp.exp(lp) * (lp - lq), -1)
    return jnp.sum(jnp.where(mask, per_pos, 0.0), -1)


def train_sft(spec: TextPolicySpec, prompts: np.ndarray, responses: np.ndarray, key: jax.Array, steps: int,
              batch: int, learning_rate: float) -> tuple[Any, dict[str, float]]:
    """Next-token prediction on demonstrations (response tokens only, EOS included). Returns (params, metrics)."""
    n = prompts.shape[0]
    if n == 0:
        raise ValueError("sft split: no demonstrations to train on")
    apply = make_apply(spec)
    P = jnp.asarray(prompts, jnp.int32)
    R = jnp.asarray(responses, jnp.int32)
    M = response_mask(R)
    k_init, k_train = jax.random.split(key)
    params = init_params(spec, k_init)
    opt = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.1))

    def nll(p, x, y, m):
        lp = token_log_probs(apply, spec, p, x, y, m)
        return -jnp.sum(lp) / jnp.sum(m)

    @jax.jit
    def fit(params, key):
        def step(carry, kk):
            p, s = carry
            idx = jax.random.randint(kk, (batch,), 0, n)
            loss, g = jax.value_and_grad(nll)(p, P[idx], R[idx], M[idx])
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (p, _), losses = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
        return p, losses, nll(p, P, R, M)

    params, losses, final = fit(params, k_train)
    tail = max(1, steps // 10)
    return params, {"nll_per_token_first": float(losses[0]), "nll_per_token_last10pct": float(jnp.mean(losses[-tail:])),
                    "nll_per_token_full_split": float(final)}


def flatten_params(params: Any) -> dict[str, np.ndarray]:
    return pytree_io.flatten(params)


def unflatten_params(spec: TextPolicySpec, flat: dict[str, np.ndarray], where: str = "policy") -> Any:
    template = jax.eval_shape(lambda: init_params(spec, jax.random.PRNGKey(0)))
    return pytree_io.unflatten(template, flat, where)
