"""The discovery engine. `discovery.load(path)` returns a discovered loss from a run directory."""


def __getattr__(name):
    # Lazy: `mpo losses list` should not pay for importing the engine.
    if name in ("load", "LoadedLoss"):
        import importlib

        return getattr(importlib.import_module("discovery.loading"), name)
    raise AttributeError(f"module 'discovery' has no attribute {name!r}")
