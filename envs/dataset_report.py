"""`mpo data show`: a dataset's summary (text and a PNG), by the world that made it."""
from __future__ import annotations

from pathlib import Path

from envs.dataset_io import PreferenceDataset


def _world(ds: PreferenceDataset):
    if ds.domain == "text":
        from envs.text import report
    else:
        from envs.mujoco import report
    return report


def summary_text(ds: PreferenceDataset) -> str:
    """The world's summary, then how the dataset was made and its (validated) checksum."""
    m = ds.manifest
    lines = [_world(ds).summary_text(ds)]
    if "command" in m:
        lines.append(f"made by      {m['command']}  ({m.get('generation_wall_time_s', '?')} s)")
    lines.append(f"checksum     {m['checksum'][:16]}... (validated)")
    return "\n".join(lines)


def save_png(ds: PreferenceDataset, path: Path | str) -> Path:
    return _world(ds).save_png(ds, path)
