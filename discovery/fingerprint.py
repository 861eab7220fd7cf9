"""What a run's numbers depend on, recorded so that `--resume` can refuse to continue a different run.

A fingerprint is the resolved (validated) config and the combined checksum of every dataset it names. It is
written to RUN/fingerprint.json when the run directory is created and into every checkpoint's metadata
(discovery/checkpoint.py), so the record a resume is compared with is the one the restored state was made
under. Measured before this existed: an edited config.json (population, learning rate, dataset, seed) or a
dataset rebuilt in place resumed with exit 0 into a mixed run whose config.json claimed the new settings for
every generation. A few keys change nothing the search computes (SAFE_KEYS); `--allow-config-change KEY`
lets a resume take their new values, and the change is recorded with the generation it took effect at.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from discovery import strict_json

FINGERPRINT = "fingerprint.json"
FORMAT_VERSION = 1
# Keys read only after the last generation (the final selection's budget, the test report) or never by the
# search (the name): a resumed run may take new values for them without mixing two searches. A key ending
# in ".*" covers its whole block.
SAFE_KEYS = ("name", "report.*", "select.seeds", "select.episodes")


class ResumeMismatch(ValueError):
    """`--resume` of a run directory whose config or datasets differ from what its checkpoints were made with."""


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and `loss.init_hparams` (a free-form mapping) stay values."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key != "loss.init_hparams":
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def dataset_checksums(cfg: dict[str, Any]) -> list[str]:
    """The manifest checksum of every dataset of `cfg` (the arrays are verified against it on load)."""
    from discovery.config import resolve_path

    sums = []
    for i, d in enumerate(cfg["datasets"]):
        manifest = resolve_path(d) / "manifest.json"
        try:
            sums.append(str(json.loads(manifest.read_text())["checksum"]))
        except FileNotFoundError:
            raise FileNotFoundError(f"datasets[{i}]: {d} has no manifest.json (not a dataset directory)") from None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"datasets[{i}]: {manifest} is not a dataset manifest (no 'checksum')") from None
    return sums


def digest(fp: dict[str, Any]) -> str:
    body = {"config": fp["config"], "datasets": fp["datasets"]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def make(cfg: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint of a validated config: the config itself, its datasets' checksums and their digest."""
    fp: dict[str, Any] = {"format_version": FORMAT_VERSION, "config": cfg, "datasets": dataset_checksums(cfg)}
    start = cfg["loss"].get("start_from")
    if start:  # a staged search's start: an edited or re-run stage 1 must not silently change stage 2
        from discovery.config import resolve_path

        fp["start_from_best_sha256"] = hashlib.sha256((resolve_path(start) / "best.json").read_bytes()).hexdigest()
    fp["sha256"] = digest(fp)
    fp["changes"] = []
    return fp


def write(run_dir: Path, fp: dict[str, Any]) -> None:
    strict_json.write(Path(run_dir) / FINGERPRINT, fp)


def read(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / FINGERPRINT
    if not path.exists():
        return None
    try:
        fp = json.loads(path.read_text())
    except ValueError as err:
        raise ResumeMismatch(f"--resume: {path} is not valid JSON ({err})") from None
    if not isinstance(fp, dict) or not isinstance(fp.get("config"), dict) or not isinstance(fp.get("datasets"), list):
        raise ResumeMismatch(f"--resume: {path} is not a fingerprint (expected config and datasets)")
    return fp


def _is_safe(key: str) -> bool:
    return any(key == s or (s.endswith(".*") and key.startswith(s[:-1])) for s in SAFE_KEYS)


def check_allowed(keys: Sequence[str]) -> None:
    """Refuse an `--allow-config-change` key that a resumed run may not change."""
    bad = [k for k in keys if not _is_safe(k)]
    if bad:
        raise ValueError(f"--allow-config-change: {', '.join(bad)} cannot change in a resumed run (the search's "
                         f"numbers depend on it); allowed: {', '.join(SAFE_KEYS)}")


def _show(v: Any) -> str:
    text = json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


def compare(recorded: dict[str, Any], fp: dict[str, Any], allow: Sequence[str] = ()) -> dict[str, tuple[Any, Any]]:
    """The allowed config changes {key: (old, new)} between `recorded` and `fp`; raises ResumeMismatch naming
    every other differing key and every changed dataset."""
    check_allowed(allow)
    old, new = flatten(recorded["config"]), flatten(fp["config"])
    keys = sorted(set(old) | set(new))
    diff = {k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)}
    refused = [k for k in diff if not any(k == a or (a.endswith(".*") and k.startswith(a[:-1])) for a in allow)]
    problems = [f"{k} ({_show(diff[k][0])} -> {_show(diff[k][1])})" for k in refused]
    if "datasets" not in diff:  # same paths: their contents must be the same too
        for i, (a, b) in enumerate(zip(recorded["datasets"], fp["datasets"])):
            if a != b:
                problems.append(f"datasets[{i}] {fp['config']['datasets'][i]} changed on disk (checksum {a[:12]}... "
                                f"-> {b[:12]}...)")
    if recorded.get("start_from_best_sha256") != fp.get("start_from_best_sha256") and "loss.start_from" not in diff:
        problems.append(f"loss.start_from {fp['config']['loss'].get('start_from')}: its best.json changed on disk")
    if problems:
        only_safe = refused and len(problems) == len(refused) and all(_is_safe(k) for k in refused)
        hint = ("; --allow-config-change KEY accepts " + ", ".join(SAFE_KEYS) if only_safe
                else "; start a new run with --out")
        raise ResumeMismatch(f"--resume: the run was made with another config or data: {'; '.join(problems)}{hint}")
    return diff


def verify(run_dir: Path, cfg: dict[str, Any], recorded: dict[str, Any] | None, allow: Sequence[str] = (),
           generation: int = 0) -> dict[str, Any]:
    """The fingerprint a resume of `run_dir` from `generation` continues under: `cfg`'s, once `recorded` (the
    restored checkpoint's; None before the first checkpoint: fingerprint.json's) is found to differ only in
    allowed keys. Allowed changes are appended to its "changes" with the generation they take effect at."""
    if recorded is None:
        recorded = read(run_dir)
    if recorded is None:
        raise ResumeMismatch(f"--resume: {run_dir} has no {FINGERPRINT} (made by an older version), so an edited "
                             "config.json or a changed dataset cannot be detected; start a new run with --out")
    fp = make(cfg)
    diff = compare(recorded, fp, allow)
    fp["changes"] = list(recorded.get("changes", []))
    if diff:
        fp["changes"].append({"generation": generation, "keys": {k: {"old": a, "new": b} for k, (a, b) in diff.items()}})
    return fp
