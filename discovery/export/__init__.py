"""Export: a discovered Mirror Preference Optimization loss as one self-contained PyTorch file with a TRL
DPOTrainer subclass (`mpo export`). source.py reads what to export (a run directory or a zoo point),
torch_source.py renders template.py with its literals."""
