"""The synthetic text task: token vocabulary, prompts, the hidden true reward and the demonstrators.

Layout: token 0 is EOS, token 1 separates prompt and response (SEP), tokens 2..V-1 are content. A prompt
is `prompt_len` content tokens; its *targets* are the prompt mapped through a hidden permutation of the
content tokens (`target_map`, fixed by the task seed). A response is at most `max_len` tokens and ends at
its first EOS (the EOS is part of the response, as in LLM completions); its *length* n is the number of
content tokens before that EOS (max_len if it never stops).

True reward, in [-0.1 * (max_len - prompt_len), 1]; 1 is the best achievable (every target in order, then EOS):
  r*(x, y) = 0.5 * coverage + 0.5 * order - extra_cost * max(0, n - prompt_len)
  coverage = fraction of targets that appear anywhere among the n content tokens (prompt-dependent tokens)
  order    = fraction of positions i < prompt_len with y_i = target_i (the right tokens in the right order)
so quality is not length: too short misses targets, too long pays for every extra token.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

EOS = 0
SEP = 1
N_SPECIAL = 2


@dataclasses.dataclass(frozen=True)
class TextTask:
    """The static description of the task; everything the reward and the policy sizes need."""

    vocab: int = 12  # V: EOS, SEP and V - 2 content tokens
    prompt_len: int = 4  # k: prompt tokens = number of targets
    max_len: int = 12  # T: response tokens at most (EOS included)
    extra_cost: float = 0.1  # true-reward cost of every content token beyond the k targets
    task_seed: int = 0  # draws the hidden target map

    def __post_init__(self) -> None:
        for name, ok, allowed in (
            ("vocab", self.vocab >= N_SPECIAL + 2, f">= {N_SPECIAL + 2}"),
            ("prompt_len", self.prompt_len >= 1, ">= 1"),
            ("max_len", self.max_len >= self.prompt_len + 1, "> prompt_len (room for the targets and EOS)"),
            ("extra_cost", self.extra_cost >= 0.0, ">= 0"),
        ):
            if not ok:
                raise ValueError(f"{name}: got {getattr(self, name)!r}; allowed values: {allowed}")

    @property
    def n_content(self) -> int:
        return self.vocab - N_SPECIAL

    def target_map(self) -> np.ndarray:
        """[V] int32: content token -> its target token (a permutation of the content tokens); specials map to
        themselves. Numpy, from the task seed, so it is a constant of the task recorded in the manifest."""
        perm = np.random.default_rng(self.task_seed).permutation(self.n_content) + N_SPECIAL
        return np.concatenate([np.arange(N_SPECIAL), perm]).astype(np.int32)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["name"] = "text"
        d["target_map"] = self.target_map().tolist()
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TextTask":
        return TextTask(**{f.name: d[f.name] for f in dataclasses.fields(TextTask)})


def sample_prompts(task: TextTask, key: jax.Array, n: int) -> jax.Array:
    """[n, k] int32 prompts of uniform content tokens."""
    return jax.random.randint(key, (n, task.prompt_len), N_SPECIAL, task.vocab).astype(jnp.int32)


def targets(task: TextTask, prompts: jax.Array) -> jax.Array:
    return jnp.asarray(task.target_map())[prompts]


def response_mask(tokens: jax.Array) -> jax.Array:
    """[..., T] bool: the response's tokens, up to and including its first EOS."""
    is_eos = tokens == EOS
    before = jnp.cumsum(is_eos, axis=-1) - is_eos  # EOS tokens strictly before position t
    return before == 0


def content_length(tokens: jax.Array) -> jax.Array:
    """[...] int32: content tokens before the first EOS (T when there is none)."""
    return jnp.sum(response_mask(tokens) & (tokens != EOS), axis=-1).astype(jnp.int32)


def true_reward(task: TextTask, prompts: jax.Array, tokens: jax.Array) -> jax.Array:
    """r*(x, y) for prompts [..., k] and responses [..., T] -> [...] float32 (see the module docstring)."""
    chex.assert_axis_dimension(prompts, -1, task.prompt_len)
    chex.assert_axis_dimension(tokens, -1, task.max_len)
    tgt = targets(task, prompts)  # [..., k]
    n = content_length(tokens)
    content = jnp.arange(task.max_len) < n[..., None]  # [..., T]
    hit = (tokens[..., None, :] == tgt[..., :, None]) & content[..., None, :]  # [..., k, T]
    coverage = jnp.mean(jnp.any(hit, axis=-1), axis=-1)
    k = task.prompt_len
    order = jnp.mean((tokens[..., :k] == tgt) & content[..., :k], axis=-1)
    extra = jnp.maximum(n - k, 0).astype(jnp.float32)
    return (0.5 * coverage + 0.5 * order - task.extra_cost * extra).astype(jnp.float32)


def optimal_reward(task: TextTask) -> float:
    return 1.0


def optimal_response(task: TextTask, prompts: jax.Array) -> jax.Array:
    """The targets in order, then EOS (padded with EOS): the response with r* = 1."""
    pad = jnp.full(prompts.shape[:-1] + (task.max_len - task.prompt_len,), EOS, jnp.int32)
    return jnp.concatenate([targets(task, prompts), pad], axis=-1)


def random_responses(task: TextTask, key: jax.Array, n: int) -> jax.Array:
    """[n, T] responses of the uniform policy over the whole vocabulary (SEP included), EOS-padded after EOS."""
    toks = jax.random.randint(key, (n, task.max_len), 0, task.vocab).astype(jnp.int32)
    return jnp.where(response_mask(toks), toks, EOS)


@dataclasses.dataclass(frozen=True)
class Demonstrator:
    """A scripted writer of demonstrations: each target right with p_correct (else a random content token),
    with p_truncate stops after a random number of targets (< k), then a Geometric number of extra
    random tokens with mean `mean_extra`, then EOS. Mixed quality = several of these."""

    name: str
    p_correct: float
    p_truncate: float
    mean_extra: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def demonstrations(task: TextTask, demo: Demonstrator, prompts: jax.Array, key: jax.Array) -> jax.Array:
    """[n, T] EOS-terminated responses of one demonstrator to prompts [n, k] (content length <= T - 1)."""
    n, k, T = prompts.shape[0], task.prompt_len, task.max_len
    k_ok, k_rand, k_trunc, k_cut, k_extra, k_fill = jax.random.split(key, 6)
    tgt = targets(task, prompts)
    rand = jax.random.randint(k_rand, (n, k), N_SPECIAL, task.vocab)
    body = jnp.where(jax.random.uniform(k_ok, (n, k)) < demo.p_correct, tgt, rand)
    cut = jnp.where(jax.random.uniform(k_trunc, (n,)) < demo.p_truncate,
                    jax.random.randint(k_cut, (n,), 1, k), k)
    # Geometric(p) on {0, 1, ...} with mean (1 - p) / p = mean_extra.
    p_stop = 1.0 / (1.0 + demo.mean_extra)
    u = jax.random.uniform(k_extra, (n,), minval=1e-7, maxval=1.0)
    extra = jnp.floor(jnp.log(u) / jnp.log1p(-p_stop)).astype(jnp.int32) if demo.mean_extra > 0 else jnp.zeros(n, jnp.int32)
    length = jnp.minimum(cut + extra, T - 1)
    filler = jax.random.randint(k_fill, (n, T), N_SPECIAL, task.vocab)
    pos = jnp.arange(T)[None, :]
    body_full = jnp.concatenate([body, filler[:, k:]], axis=1)
    content = jnp.where(pos < cut[:, None], body_full, filler)
    return jnp.where(pos < length[:, None], content, EOS).astype(jnp.int32)
