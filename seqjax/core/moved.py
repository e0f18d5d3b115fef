"""The module paths of the release before the regrouping, kept working for one release.

The top level of ``seqjax`` was 18 modules beside its packages; they now live in packages
(``core``, ``layers``, ``cells``, ``attention``, ``sequences``, ``train``). Every public name is
still where users reach it most (``seqjax.GRU``, ``seqjax.unroll``, ``seqjax.ScanOptions``...);
an import of an old module path (``from seqjax.pooling import last``) still works and warns with
the new path. ``install`` puts the finder on ``sys.meta_path``; ``seqjax/__init__.py`` calls it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "seqjax.types": "seqjax.core.types",
    "seqjax.checks": "seqjax.core.checks",
    "seqjax.masking": "seqjax.core.masking",
    "seqjax.scan": "seqjax.core.scan",
    "seqjax.host_memory": "seqjax.core.host_memory",
    "seqjax.plots": "seqjax.core.plots",
    "seqjax.positional": "seqjax.layers.positional",
    "seqjax.cell": "seqjax.cells.protocol",
    "seqjax.multi_head_attention": "seqjax.attention.multi_head",
    "seqjax.transformer": "seqjax.attention.transformer",
    "seqjax.attention_decoder": "seqjax.attention.decoder",
    "seqjax.unroll": "seqjax.sequences.unroll",
    "seqjax.wrappers": "seqjax.sequences.wrappers",
    "seqjax.pooling": "seqjax.sequences.pooling",
    "seqjax.diagnostics": "seqjax.sequences.diagnostics",
    "seqjax.conv": "seqjax.sequences.conv",
    "seqjax.config": "seqjax.train.config",
}
# ``seqjax.attention`` was a module and is a package now, with the module's names: no entry needed.


class _CallableModule(types.ModuleType):
    """The old ``seqjax.unroll`` module: importing it sets ``seqjax.unroll`` to the module, so the
    module also calls the function that ``seqjax.unroll`` names."""

    def __call__(self, *args, **kwargs):
        return self.unroll(*args, **kwargs)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} is now {new} (the old path works for one release)", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new)
        if spec.name == "seqjax.unroll":
            module.__class__ = _CallableModule
        return module

    def exec_module(self, module):
        pass  # the new module is loaded already


def install() -> None:
    """Puts the old paths' finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
