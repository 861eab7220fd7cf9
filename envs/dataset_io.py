"""Preference-dataset file format: arrays (.npz) plus a JSON manifest, validated on load.

Two domains share the format (manifest field "domain": "mujoco", the default when absent, or "text");
each has its own sizes, array schema, value checks and reference-policy spec (DOMAINS below), while
checksums, loading and atomic writing are common. A dataset directory holds
  manifest.json   task, sizes, properties (the full generator config), seed, versions, checksums, provenance
  pairs.npz       prompts and chosen/rejected responses (PAIR_ARRAYS)
  sft.npz         the SFT split the reference policy was cloned from (SFT_ARRAYS)
  reference.npz   the reference policy's parameters (paths of the flax pytree)
Loading checks, in order: manifest fields, every array's presence, shape and dtype, token ranges and
mask/length consistency, then per-array SHA-256 checksums; the first problem is raised as one
`DatasetError` that names the file, the array and what was expected. Writing goes to a temporary
directory first and refuses to replace an existing dataset unless asked to.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from envs import pytree_io
from envs.mujoco import token_policy as tp
from envs.text import policy as xp

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAIRS_FILE = "pairs.npz"
SFT_FILE = "sft.npz"
REFERENCE_FILE = "reference.npz"

REQUIRED_SIZES = ("n_pairs", "horizon", "obs_dim", "act_dim", "n_bins", "nq", "nv", "n_sft")
TEXT_REQUIRED_SIZES = ("n_pairs", "prompt_len", "max_len", "vocab", "n_sft")
REQUIRED_FIELDS = ("format_version", "task", "sizes", "properties", "seed", "versions", "arrays",
                   "checksum", "reference")


class DatasetError(ValueError):
    """A dataset file is missing, malformed or inconsistent; the message says exactly what."""


def label_value_of(manifest: dict[str, Any]) -> str:
    """properties.label_value; "segment" when absent (datasets made before return-to-go labels)."""
    return manifest.get("properties", {}).get("label_value", "segment")


def pair_schema(s: dict[str, int], label_value: str = "segment") -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, dtype) of pairs.npz. Response arrays exist for both `chosen_` and `rejected_`;
    `{side}_value` (the value the label compared) only when label_value is not "segment"."""
    P, H, O, A = s["n_pairs"], s["horizon"], s["obs_dim"], s["act_dim"]
    schema: dict[str, tuple[tuple[int, ...], str]] = {
        "prompt_obs": ((P, O), "float32"),
        "prompt_qpos": ((P, s["nq"]), "float32"),
        "prompt_qvel": ((P, s["nv"]), "float32"),
        "prompt_step": ((P,), "int32"),
        "p_chosen": ((P,), "float32"),
        "flipped": ((P,), "bool"),
    }
    for side in ("chosen", "rejected"):
        schema.update({
            f"{side}_obs": ((P, H, O), "float32"),
            f"{side}_tokens": ((P, H, A), "int32"),
            f"{side}_mask": ((P, H), "bool"),
            f"{side}_length": ((P,), "int32"),
            f"{side}_reward": ((P, H), "float32"),
            f"{side}_return": ((P,), "float32"),
            f"{side}_level": ((P,), "int32"),
        })
        if label_value != "segment":
            schema[f"{side}_value"] = ((P,), "float32")
    return schema


def sft_schema(s: dict[str, int]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {
        "sft_obs": ((s["n_sft"], s["obs_dim"]), "float32"),
        "sft_tokens": ((s["n_sft"], s["act_dim"]), "int32"),
    }


def array_sha256(a: np.ndarray) -> str:
    """Hash of dtype, shape and bytes, so a reshaped or recast array never passes as the same data."""
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(tuple(a.shape)).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def combined_checksum(per_array: dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(per_array):
        h.update(f"{k}={per_array[k]};".encode())
    return h.hexdigest()


@dataclasses.dataclass
class PreferenceDataset:
    """A loaded, validated dataset: numpy arrays, the manifest, and the reference token policy."""

    path: Path | None
    manifest: dict[str, Any]
    pairs: dict[str, np.ndarray]
    sft: dict[str, np.ndarray]
    reference_spec: Any  # tp.TokenPolicySpec (mujoco) or text_policy.TextPolicySpec (text)
    reference_params: Any

    @property
    def domain(self) -> str:
        return domain_of(self.manifest)

    @property
    def sizes(self) -> dict[str, int]:
        return self.manifest["sizes"]

    @property
    def task(self) -> str:
        return self.manifest["task"]["name"]


def _check_manifest(m: Any, where: str) -> None:
    if not isinstance(m, dict):
        raise DatasetError(f"{where}: manifest must be a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in m]
    if missing:
        raise DatasetError(f"{where}: manifest is missing field(s) {', '.join(missing)}")
    if m["format_version"] != FORMAT_VERSION:
        raise DatasetError(f"{where}: format_version is {m['format_version']!r}, this code reads {FORMAT_VERSION}")
    domain = domain_of(m, where)
    sizes = m["sizes"]
    required = DOMAINS[domain].required_sizes
    miss = [k for k in required if k not in sizes]
    if miss:
        raise DatasetError(f"{where}: manifest sizes are missing {', '.join(miss)}")
    for k in required:
        if not isinstance(sizes[k], int) or sizes[k] < (0 if k == "n_sft" else 1):
            raise DatasetError(f"{where}: manifest sizes.{k} must be a positive integer, got {sizes[k]!r}")
    if "spec" not in m["reference"]:
        raise DatasetError(f"{where}: manifest reference.spec is missing")
    DOMAINS[domain].check_manifest(m, where)


def _check_mujoco_manifest(m: dict[str, Any], where: str) -> None:
    sizes = m["sizes"]
    task = m["task"]
    for k, s in (("obs_size", "obs_dim"), ("action_size", "act_dim")):
        if task.get(k) != sizes[s]:
            raise DatasetError(f"{where}: manifest task.{k}={task.get(k)} does not match sizes.{s}={sizes[s]}")
    ref = m["reference"]
    if ref["spec"].get("n_bins") != sizes["n_bins"]:
        raise DatasetError(f"{where}: reference.spec.n_bins={ref['spec'].get('n_bins')} does not match "
                           f"sizes.n_bins={sizes['n_bins']}")


def _check_arrays(arrays: dict[str, np.ndarray], schema: dict[str, tuple[tuple[int, ...], str]], fname: str) -> None:
    for name, (shape, dtype) in schema.items():
        if name not in arrays:
            raise DatasetError(f"{fname}: missing array {name!r}")
        a = arrays[name]
        if tuple(a.shape) != shape:
            raise DatasetError(f"{fname}: array {name!r} has shape {tuple(a.shape)}, expected {shape}")
        if str(a.dtype) != dtype:
            raise DatasetError(f"{fname}: array {name!r} has dtype {a.dtype}, expected {dtype}")
    extra = sorted(set(arrays) - set(schema))
    if extra:
        raise DatasetError(f"{fname}: unexpected array(s) {', '.join(repr(e) for e in extra)}")


def _index(bad: np.ndarray) -> str:
    """The first True entry of `bad` as "i" or "(i, j, ...)"."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return str(idx[0]) if len(idx) == 1 else str(idx)


def _check_finite(fname: str, arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    """Observations, rewards, returns and values must be numbers: one NaN in one observation made every
    candidate of a search NaN, and the run still wrote a best.json."""
    for name in names:
        a = arrays[name]
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(np.argwhere(bad)[0])
            raise DatasetError(f"{fname}: array {name!r} has a non-finite value ({a[first]}) at index {_index(bad)}")


MUJOCO_FLOAT_PAIRS = ("prompt_obs", "prompt_qpos", "prompt_qvel", "chosen_obs", "rejected_obs", "chosen_reward",
                      "rejected_reward", "chosen_return", "rejected_return", "p_chosen")


def _check_values(pairs: dict[str, np.ndarray], sft: dict[str, np.ndarray], n_bins: int) -> None:
    _check_finite(PAIRS_FILE, pairs, MUJOCO_FLOAT_PAIRS + tuple(k for k in ("chosen_value", "rejected_value")
                                                                 if k in pairs))
    _check_finite(SFT_FILE, sft, ("sft_obs",))
    for fname, arrays, names in ((PAIRS_FILE, pairs, ("chosen_tokens", "rejected_tokens")),
                                 (SFT_FILE, sft, ("sft_tokens",))):
        for name in names:
            t = arrays[name]
            if t.size and (t.min() < 0 or t.max() >= n_bins):
                bad = np.argwhere((t < 0) | (t >= n_bins))[0]
                raise DatasetError(
                    f"{fname}: array {name!r} has token {int(t[tuple(bad)])} out of range [0, {n_bins}) "
                    f"at index {tuple(int(i) for i in bad)}")
    for side in ("chosen", "rejected"):
        mask, length = pairs[f"{side}_mask"], pairs[f"{side}_length"]
        if np.any(mask.sum(-1) != length):
            i = int(np.argmax(mask.sum(-1) != length))
            raise DatasetError(f"{PAIRS_FILE}: {side}_length[{i}]={int(length[i])} but {side}_mask[{i}] has "
                               f"{int(mask[i].sum())} valid steps")
        H = mask.shape[-1]
        prefix = np.arange(H)[None, :] < length[:, None]
        if np.any(mask != prefix):
            i = int(np.argmax(np.any(mask != prefix, axis=-1)))
            raise DatasetError(f"{PAIRS_FILE}: {side}_mask[{i}] is not a prefix of valid steps")
        if np.any(length < 1):
            raise DatasetError(f"{PAIRS_FILE}: {side}_length[{_index(length < 1)}] must be >= 1 (a response has at "
                               "least one step)")
        ret = pairs[f"{side}_reward"].sum(-1)
        if not np.allclose(ret, pairs[f"{side}_return"], rtol=1e-4, atol=1e-3):
            i = int(np.argmax(~np.isclose(ret, pairs[f"{side}_return"], rtol=1e-4, atol=1e-3)))
            raise DatasetError(f"{PAIRS_FILE}: {side}_return[{i}] is not the sum of {side}_reward[{i}]")
    p = pairs["p_chosen"]
    if np.any((p < 0) | (p > 1)):
        raise DatasetError(f"{PAIRS_FILE}: array 'p_chosen' must hold probabilities in [0, 1]; got {p[(p < 0) | (p > 1)][0]} "
                           f"at index {_index((p < 0) | (p > 1))}")


def _check_checksums(manifest: dict[str, Any], files: dict[str, dict[str, np.ndarray]]) -> None:
    recorded = manifest["arrays"]
    per = {}
    for fname, arrays in files.items():
        for name, a in arrays.items():
            key = f"{fname}:{name}"
            if key not in recorded:
                raise DatasetError(f"{fname}: array {name!r} is not listed in the manifest")
            got = array_sha256(a)
            if got != recorded[key]["sha256"]:
                raise DatasetError(f"{fname}: checksum mismatch for array {name!r}: manifest sha256 "
                                   f"{recorded[key]['sha256'][:12]}..., file {got[:12]}...")
            per[key] = got
    missing = sorted(set(recorded) - set(per))
    if missing:
        raise DatasetError(f"manifest lists array(s) not in the files: {', '.join(missing)}")
    if combined_checksum(per) != manifest["checksum"]:
        raise DatasetError("checksum mismatch: the manifest's combined checksum does not match its array list")


def validate(manifest: dict[str, Any], pairs: dict[str, np.ndarray], sft: dict[str, np.ndarray],
             reference: dict[str, np.ndarray], where: str = "dataset", check_checksums: bool = True) -> Any:
    """Validate everything; return the reference parameter pytree. Raises DatasetError."""
    _check_manifest(manifest, where)
    dom = DOMAINS[domain_of(manifest, where)]
    s = manifest["sizes"]
    spec = dom.spec(manifest, where)
    try:  # array errors name the file inside the dataset: prefix the dataset so the message names it all
        _check_arrays(pairs, dom.pair_schema(s, manifest), PAIRS_FILE)
        _check_arrays(sft, dom.sft_schema(s), SFT_FILE)
        try:
            params = dom.unflatten(spec, reference, REFERENCE_FILE)
        except ValueError as err:
            raise DatasetError(str(err)) from None
        dom.check_values(pairs, sft, s)
        if check_checksums:
            _check_checksums(manifest, {PAIRS_FILE: pairs, SFT_FILE: sft, REFERENCE_FILE: reference})
    except DatasetError as err:
        msg = str(err)
        raise DatasetError(f"{where}/{msg}" if msg.startswith((PAIRS_FILE, SFT_FILE, REFERENCE_FILE))
                           else f"{where}: {msg}") from None
    return params


def _mujoco_spec(manifest: dict[str, Any], where: str) -> tp.TokenPolicySpec:
    s = manifest["sizes"]
    spec = tp.TokenPolicySpec.from_json(manifest["reference"]["spec"])
    if spec.obs_dim != s["obs_dim"] or spec.act_dim != s["act_dim"]:
        raise DatasetError(f"{where}: reference.spec sizes ({spec.obs_dim}, {spec.act_dim}) do not match "
                           f"sizes (obs_dim={s['obs_dim']}, act_dim={s['act_dim']})")
    return spec


# --- the text domain (envs/text/task.py): token prompts and EOS-terminated responses ---------------------

def text_pair_schema(s: dict[str, int]) -> dict[str, tuple[tuple[int, ...], str]]:
    P, k, T = s["n_pairs"], s["prompt_len"], s["max_len"]
    schema: dict[str, tuple[tuple[int, ...], str]] = {
        "prompt_tokens": ((P, k), "int32"),
        "p_chosen": ((P,), "float32"),
        "flipped": ((P,), "bool"),
    }
    for side in ("chosen", "rejected"):
        schema.update({
            f"{side}_tokens": ((P, T), "int32"),
            f"{side}_mask": ((P, T), "bool"),
            f"{side}_length": ((P,), "int32"),  # content tokens before EOS
            f"{side}_reward": ((P,), "float32"),  # true reward r*
            f"{side}_biased_reward": ((P,), "float32"),  # what the labeller saw
            f"{side}_level": ((P,), "int32"),  # index into properties.response_temperatures
        })
    return schema


def text_sft_schema(s: dict[str, int]) -> dict[str, tuple[tuple[int, ...], str]]:
    N, k, T = s["n_sft"], s["prompt_len"], s["max_len"]
    return {"sft_prompt_tokens": ((N, k), "int32"), "sft_tokens": ((N, T), "int32"), "sft_level": ((N,), "int32")}


def _check_text_manifest(m: dict[str, Any], where: str) -> None:
    sizes, task, spec = m["sizes"], m["task"], m["reference"]["spec"]
    if task.get("name") != "text":
        raise DatasetError(f"{where}: manifest task.name is {task.get('name')!r}; a text dataset needs 'text'")
    for k in ("vocab", "prompt_len", "max_len"):
        if task.get(k) != sizes[k]:
            raise DatasetError(f"{where}: manifest task.{k}={task.get(k)} does not match sizes.{k}={sizes[k]}")
        if spec.get(k) != sizes[k]:
            raise DatasetError(f"{where}: manifest reference.spec.{k}={spec.get(k)} does not match sizes.{k}={sizes[k]}")
    for k in ("random_reward", "sft_reward", "optimal_reward"):
        if not isinstance(task.get(k), (int, float)) or not np.isfinite(task[k]):
            raise DatasetError(f"{where}: manifest task.{k} must be a finite number, got {task.get(k)!r}")
    if not task["optimal_reward"] > task["sft_reward"]:
        raise DatasetError(f"{where}: manifest task.optimal_reward ({task['optimal_reward']}) must exceed "
                           f"task.sft_reward ({task['sft_reward']}): scores are normalized between them")


def _text_spec(manifest: dict[str, Any], where: str) -> xp.TextPolicySpec:
    try:
        return xp.TextPolicySpec.from_json(manifest["reference"]["spec"])
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"{where}: manifest reference.spec is not a text policy spec ({type(err).__name__}: {err})") from None


def _text_response_mask(tokens: np.ndarray) -> np.ndarray:
    is_eos = tokens == 0
    return (np.cumsum(is_eos, axis=-1) - is_eos) == 0


def _check_text_values(pairs: dict[str, np.ndarray], sft: dict[str, np.ndarray], s: dict[str, int]) -> None:
    V = s["vocab"]
    _check_finite(PAIRS_FILE, pairs, ("p_chosen",) + tuple(f"{side}_{k}" for side in ("chosen", "rejected")
                                                           for k in ("reward", "biased_reward")))
    for fname, arrays, names in ((PAIRS_FILE, pairs, ("prompt_tokens", "chosen_tokens", "rejected_tokens")),
                                 (SFT_FILE, sft, ("sft_prompt_tokens", "sft_tokens"))):
        for name in names:
            t = arrays[name]
            if t.size and (t.min() < 0 or t.max() >= V):
                bad = np.argwhere((t < 0) | (t >= V))[0]
                raise DatasetError(f"{fname}: array {name!r} has token {int(t[tuple(bad)])} out of range [0, {V}) "
                                   f"at index {tuple(int(i) for i in bad)}")
    for side in ("chosen", "rejected"):
        tok, mask, length = pairs[f"{side}_tokens"], pairs[f"{side}_mask"], pairs[f"{side}_length"]
        want = _text_response_mask(tok)
        if np.any(mask != want):
            i = int(np.argmax(np.any(mask != want, axis=-1)))
            raise DatasetError(f"{PAIRS_FILE}: {side}_mask[{i}] must mark the response up to and including its "
                               f"first EOS (token 0)")
        n = np.sum(want & (tok != 0), axis=-1)
        if np.any(n != length):
            i = int(np.argmax(n != length))
            raise DatasetError(f"{PAIRS_FILE}: {side}_length[{i}]={int(length[i])} but {side}_tokens[{i}] has "
                               f"{int(n[i])} content tokens before EOS")
    p = pairs["p_chosen"]
    if np.any((p < 0) | (p > 1)):
        raise DatasetError(f"{PAIRS_FILE}: array 'p_chosen' must hold probabilities in [0, 1]; got {p[(p < 0) | (p > 1)][0]} "
                           f"at index {_index((p < 0) | (p > 1))}")


class DomainFormat(NamedTuple):
    """What differs between domains in the file format."""

    required_sizes: tuple[str, ...]
    pair_schema: Callable[[dict[str, int], dict[str, Any]], dict[str, tuple[tuple[int, ...], str]]]  # (sizes, manifest)
    sft_schema: Callable[[dict[str, int]], dict[str, tuple[tuple[int, ...], str]]]
    check_manifest: Callable[[dict[str, Any], str], None]
    spec: Callable[[dict[str, Any], str], Any]  # (manifest, where) -> the reference policy's spec
    unflatten: Callable[[Any, dict[str, np.ndarray], str], Any]
    check_values: Callable[[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]], None]


DOMAINS: dict[str, DomainFormat] = {
    "mujoco": DomainFormat(REQUIRED_SIZES, lambda s, m: pair_schema(s, label_value_of(m)), sft_schema,
                           _check_mujoco_manifest, _mujoco_spec,
                           tp.unflatten_params, lambda p, f, s: _check_values(p, f, s["n_bins"])),
    "text": DomainFormat(TEXT_REQUIRED_SIZES, lambda s, m: text_pair_schema(s), text_sft_schema,
                         _check_text_manifest, _text_spec,
                         xp.unflatten_params, _check_text_values),
}


def domain_of(manifest: dict[str, Any], where: str = "dataset") -> str:
    """The manifest's domain: "mujoco" when the field is absent (datasets made before text existed)."""
    domain = manifest.get("domain", "mujoco")
    if domain not in DOMAINS:
        raise DatasetError(f"{where}: manifest domain is {domain!r}; allowed values: {', '.join(DOMAINS)}")
    return domain


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DatasetError(f"{path.name}: file missing from {path.parent}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - zip/npy errors come in many types; report them as one
        raise DatasetError(f"{path.name}: cannot be read as .npz ({type(err).__name__}: {err})") from None


def load_dataset(directory: Path | str) -> PreferenceDataset:
    """Load and fully validate a dataset directory."""
    d = Path(directory)
    if not d.is_dir():
        raise DatasetError(f"{d}: not a dataset directory")
    mpath = d / MANIFEST
    if not mpath.exists():
        raise DatasetError(f"{MANIFEST}: file missing from {d}")
    try:
        with open(mpath) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{MANIFEST}: invalid JSON ({err})") from None
    _check_manifest(manifest, str(d))
    pairs = _read_npz(d / PAIRS_FILE)
    sft = _read_npz(d / SFT_FILE)
    ref = _read_npz(d / REFERENCE_FILE)
    params = validate(manifest, pairs, sft, ref, where=str(d))
    spec = DOMAINS[domain_of(manifest)].spec(manifest, str(d))
    return PreferenceDataset(d, manifest, pairs, sft, spec, params)


def finalize_manifest(manifest: dict[str, Any], pairs: dict[str, np.ndarray], sft: dict[str, np.ndarray],
                      reference: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fill in the array table (file, shape, dtype, sha256) and the combined checksum."""
    table: dict[str, Any] = {}
    for fname, arrays in ((PAIRS_FILE, pairs), (SFT_FILE, sft), (REFERENCE_FILE, reference)):
        for name, a in arrays.items():
            table[f"{fname}:{name}"] = {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": array_sha256(a)}
    out = dict(manifest)
    out["format_version"] = FORMAT_VERSION
    out["arrays"] = table
    out["checksum"] = combined_checksum({k: v["sha256"] for k, v in table.items()})
    return out


def save_dataset(directory: Path | str, manifest: dict[str, Any], pairs: dict[str, np.ndarray],
                 sft: dict[str, np.ndarray], reference_params: Any, overwrite: bool = False) -> Path:
    """Validate, then write atomically. An existing non-empty directory is an error unless overwrite=True;
    with overwrite the old dataset is only removed after the new one is complete."""
    d = Path(directory)
    if d.exists() and (not d.is_dir() or any(d.iterdir())) and not overwrite:
        raise FileExistsError(f"{d} already exists and is not empty; choose another --out or pass --overwrite")
    reference = pytree_io.flatten(reference_params)
    manifest = finalize_manifest(manifest, pairs, sft, reference)
    validate(manifest, pairs, sft, reference, where=str(d))
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=d.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a dataset is meant to be shared
    try:
        np.savez_compressed(tmp / PAIRS_FILE, **pairs)
        np.savez_compressed(tmp / SFT_FILE, **sft)
        np.savez(tmp / REFERENCE_FILE, **reference)
        with open(tmp / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        if d.exists():
            old = d.with_name(f".{d.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(d, old)
            os.replace(tmp, d)
            shutil.rmtree(old)
        else:
            os.replace(tmp, d)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return d


def update_manifest(directory: Path | str, fields: dict[str, Any]) -> None:
    """Add provenance fields (command, wall time) that are only known after saving; they are outside the
    checksummed arrays so adding them never invalidates the data."""
    d = Path(directory)
    with open(d / MANIFEST) as f:
        m = json.load(f)
    m.update(fields)
    tmp = d / (MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    os.replace(tmp, d / MANIFEST)
