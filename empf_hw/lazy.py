"""Lazy package exports: a package's names are imported on first use, so light modules stay light."""

from importlib import import_module


def exports(package: str, names: dict[str, str]):
    """A module ``__getattr__`` that imports ``name`` from ``package.<names[name]>`` on first access."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{names[name]}", package), name)

    return __getattr__
