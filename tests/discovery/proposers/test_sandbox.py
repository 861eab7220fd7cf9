"""Every sandbox escape attempt is refused with a clear message, and nothing outside the run directory changes.

The attempts that pass the allow-list (a Python time bomb, a huge allocation, a wrong shape, NaN values and
gradients) run in ONE validator worker subprocess (restarted once, after the time bomb is killed)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from discovery.proposers import sandbox
from discovery.proposers.proposal import SIGNATURE, from_json, seed_proposals


def proposal(body: str, constants: dict | None = None, code: str | None = None):
    code = code if code is not None else SIGNATURE + "\n" + "\n".join("    " + line for line in body.strip().splitlines()) + "\n"
    return from_json({"name": "attempt", "code": code, "constants": constants or {}})


def escapes(outside: Path) -> list[tuple[str, str, str, str]]:
    """(label, body or full code, expected stage, a phrase the message must contain)."""
    target = outside / "pwned"
    return [
        ("open a file", f'open("{target}", "w").write("x")\nreturn policy_chosen_logps', "parse", "calling 'open' is not allowed"),
        ("import os", "import os\nreturn policy_chosen_logps", "parse", "`import` statement is not allowed"),
        ("module-level import", f"CODE:import os\n{SIGNATURE}\n    return policy_chosen_logps\n", "parse", "exactly one function"),
        ("__import__", f'__import__("os").system("touch {target}")\nreturn policy_chosen_logps', "parse", "not allowed"),
        ("getattr on dunders", 'g = getattr(jnp.exp, "__globals__")\nreturn policy_chosen_logps', "parse", "calling 'getattr' is not allowed"),
        ("dunder attribute", "g = jnp.exp.__globals__\nreturn policy_chosen_logps", "parse", "no dunders"),
        ("subclass walk", "g = tau.__class__.__mro__\nreturn policy_chosen_logps", "parse", "no dunders"),
        ("while True loop", "while True:\n    pass\nreturn policy_chosen_logps", "parse", "`while` statement is not allowed"),
        ("recursion", f"return loss({', '.join(SIGNATURE[9:-2].split(', '))})", "parse", "no recursion"),
        ("exec", 'exec("import os")\nreturn policy_chosen_logps', "parse", "calling 'exec' is not allowed"),
        ("eval", 'x = eval("1")\nreturn policy_chosen_logps', "parse", "calling 'eval' is not allowed"),
        ("write a global", "global jnp\njnp = 1\nreturn policy_chosen_logps", "parse", "`global` statement is not allowed"),
        ("monkeypatch a module", "jnp.exp = jnp.log\nreturn policy_chosen_logps", "parse", "only plain local names"),
        ("lambda default reads the environment", "f = lambda e=os.environ: e\nreturn policy_chosen_logps", "parse", "a lambda is not allowed"),
        ("jax.config", 'jax.config.update("jax_enable_x64", True)\nreturn policy_chosen_logps', "parse", "calling 'jax.config.update' is not allowed"),
        ("undeclared constant", 'return c["gamma"] * policy_chosen_logps', "parse", "constant 'gamma' is not declared"),
        ("f-string", 'x = f"{tau}"\nreturn policy_chosen_logps', "parse", "an f-string is not allowed"),
        ("wrong shape", "return jnp.mean(policy_chosen_logps - policy_rejected_logps)", "validate", "output shape ()"),
        ("NaN values", "return jnp.log(policy_chosen_logps)", "validate", "loss is NaN/inf"),
        ("NaN gradient", "d = policy_chosen_logps - policy_chosen_logps\nreturn jnp.sqrt(d) + policy_rejected_logps", "validate",
         "gradient w.r.t. the policy log-probs is NaN/inf"),
        ("no dependence on the policy", "return tau * 0.0 + chosen_lengths", "validate", "does not depend on the policy"),
        ("huge allocation", "big = jnp.sort(jnp.full_like(policy_chosen_logps, 1.0, shape=3000000000) * jnp.mean(policy_chosen_logps))\n"
                            "return policy_chosen_logps + jnp.sum(big)", "validate", "RESOURCE_EXHAUSTED"),
        ("Python time bomb", "return policy_chosen_logps * 0.0 + 9 ** 9 ** 9", "limit", "exceeded the time limit of 4 s"),
    ]


def snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


def test_escape_attempts_refused(tmp_path):
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched")
    before = snapshot(outside)
    cases = escapes(outside)
    assert len(cases) >= 12
    seen = []
    with sandbox.validator(run_dir / "scratch", timeout_s=20.0, memory_mb=2048) as worker:
        for label, body, stage, phrase in cases:
            p = proposal("", code=body[5:]) if body.startswith("CODE:") else proposal(body)
            if stage == "limit":
                worker.timeout_s = 4.0
            t0 = time.perf_counter()
            err, got = sandbox.validate(worker, p)
            worker.timeout_s = 20.0
            seen.append((label, got, err, round(time.perf_counter() - t0, 1)))
            assert err is not None, f"{label}: admitted"
            assert got == stage, f"{label}: refused at {got}, expected {stage}: {err}"
            assert phrase in err, f"{label}: message {err!r} lacks {phrase!r}"
            assert "\n" not in err and len(err) < 700, f"{label}: not one clear line: {err!r}"
        # after the kill, a fresh worker validates a good proposal
        assert sandbox.validate(worker, seed_proposals()[0]) == (None, "valid")
        assert worker.starts == 2  # one start, one restart after the time bomb
    assert snapshot(outside) == before and not (outside / "pwned").exists()
    # the worker's only footprint is its (empty) scratch directory inside the run directory
    assert [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")] == ["scratch"]


def test_worker_environment_has_no_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    env = sandbox.Worker(tmp_path)._env()
    assert "OPENAI_API_KEY" not in env and all("KEY" not in k and "TOKEN" not in k for k in env)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and os.environ["OPENAI_API_KEY"] == "sk-secret"


@pytest.mark.parametrize("body, phrase", [
    ("x = 1 if tau > 0 else 2\nreturn policy_chosen_logps", "use jnp.where"),
    ("return [policy_chosen_logps]", "a list literal"),
    ("for i in tau:\n    pass\nreturn policy_chosen_logps", "`for` statement"),
    ("x = undefined_name\nreturn policy_chosen_logps", "the name 'undefined_name' is not allowed"),
    ("y = policy_chosen_logps", "must end with `return"),
])
def test_allowlist_messages(body, phrase):
    err = sandbox.check(proposal(body))
    assert err is not None and phrase in err and err.startswith("line ")


def test_signature_must_match():
    p = from_json({"name": "x", "code": "def loss(a, b):\n    return a\n"})
    assert "the signature must be exactly" in sandbox.check(p)
    assert sandbox.check(seed_proposals()[0]) is None
