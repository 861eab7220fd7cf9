"""The hyperparameter-robustness study: per loss, a beta x learning-rate x seed grid as one program; its report."""
