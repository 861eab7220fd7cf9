"""The suite table's settings: its default list, and the settings that are not datasets of their own.
Import-light (no jax): the CLI builds its --settings help from it."""
from __future__ import annotations

# Suite settings that are not datasets of their own: clean's pairs, and every inner run flips each training
# label with probability EPS from its own key (InnerConfig.label_flip). An interval over seeds then covers
# the flip realization too; a noisy-EPS dataset is one realization, and at fixed hyperparameters four 30%
# realizations moved DPO on walker2d by +17.9 / +1.8 / -13.3 / -1.7 (experiments/reports/realization_check/).
RESAMPLED = {f"flips-{eps}": eps for eps in (0.1, 0.2, 0.3, 0.4)}
# The settings of the suite table (`mpo data suite`), in its order. Noise is the RESAMPLED flips, not the
# one-realization noisy-EPS datasets: on hopper's noisy-EPS rows tuned DPO's gain went +26.1 / +28.7 / +17.4 /
# +16.5 / +17.7 from 0 to 0.4 (no fall), on its flips rows +38.1 / +28.1 / +18.6 / +14.4 / +5.2
# (experiments/reports/noise_resampled.md).
SUITE = ("clean", *RESAMPLED, "mixed-quality", "high-temperature")


def setting_source(setting: str) -> tuple[str, float]:
    """(the dataset setting a suite setting trains on, the label flip each of its inner runs draws)."""
    return ("clean", RESAMPLED[setting]) if setting in RESAMPLED else (setting, 0.0)
