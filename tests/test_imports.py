"""Layers point one way: every import in seqjax/ (module level and inside functions) is parsed, and
the parts of the library (the top-level modules and packages of seqjax/) must import only parts of
lower layers (so they form no cycle), and never reach for
another part's private (``_name``) helpers. The layers, bottom first, are written out below: a
newcomer reads the architecture here, and a change that breaks it fails this test."""

import ast
import pathlib


ROOT = pathlib.Path(__file__).resolve().parent.parent / "seqjax"

# bottom first; a part imports parts of lower layers only (none of its own layer)
LAYERS = [
    ("core: types, checks, masks and the masked scan, linear scans, plots, host memory", ["core"]),
    ("layers (dense, embedding, normalisation, dropout, positions) and data (vocabularies, batches, loaders)", ["layers", "data"]),
    ("kernels: the fast paths and the one option type that chooses among them", ["kernels"]),
    ("cells (the cell interface and every cell) and the decoding loops", ["cells", "decoding"]),
    ("attention (scores, multi-head, transformer layers, the attention decoder) and training", ["attention", "train"]),
    ("sequences (unroll, wrappers, pooling, convolutions, diagnostics) and word vectors", ["sequences", "embeddings"]),
    ("models", ["models"]),
    ("interop: PyTorch, Equinox and Flax, and Hugging Face's GPT-2 folders (which convert the models)", ["interop"]),
]
LEVEL = {part: level for level, (_, parts) in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """``seqjax.cells.lstm`` -> ``cells``; ``seqjax`` itself (the public face) -> ``seqjax``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "seqjax"


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for file in ROOT.rglob("*.py"):
        name = ".".join(("seqjax",) + file.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = file
    return out


def imports(name: str, file: pathlib.Path):
    """``(imported module, imported names, line)`` for every import of seqjax in the file, wherever it stands."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("seqjax"):
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base.startswith("seqjax"):
                yield base, [alias.name for alias in node.names], node.lineno


def edges():
    known = modules()
    for name, file in sorted(known.items()):
        for target, names, line in imports(name, file):
            targets = [f"{target}.{n}" if f"{target}.{n}" in known else target for n in names] or [target]
            for full, imported in zip(targets, names or [None]):
                yield name, file, line, full, imported


def test_every_part_has_a_layer():
    parts = {part_of(name) for name in modules()} - {"seqjax"}
    assert parts == set(LEVEL), f"parts with no layer: {sorted(parts - set(LEVEL))}; layers naming no part: {sorted(set(LEVEL) - parts)}"


def test_imports_point_down_a_layer():
    upward = []
    for name, file, line, target, _ in edges():
        source, dest = part_of(name), part_of(target)
        if source in ("seqjax", dest) or dest == "seqjax":
            if dest == "seqjax" and source != "seqjax":
                upward.append(f"{file.relative_to(ROOT.parent)}:{line} imports the top-level seqjax package")
            continue
        if LEVEL[dest] >= LEVEL[source]:
            upward.append(f"{file.relative_to(ROOT.parent)}:{line} ({source}, layer {LEVEL[source]}) imports {target} "
                          f"({dest}, layer {LEVEL[dest]})")
    assert not upward, "imports that point up a layer or within one:\n" + "\n".join(upward)


def test_no_part_imports_another_parts_private_helpers():
    private = [f"{file.relative_to(ROOT.parent)}:{line} imports {imported} from {target}"
               for name, file, line, target, imported in edges()
               if imported and imported.startswith("_") and not imported.startswith("__") and target != name]
    assert not private, "private helpers used across modules:\n" + "\n".join(private)


def test_the_old_module_paths_still_work_for_one_release_and_warn():
    # a fresh interpreter: the aliases load once per process
    import subprocess
    import sys

    code = """
import warnings
warnings.simplefilter("error", DeprecationWarning)
import seqjax
from seqjax.core.moved import MOVED
import importlib
for old, new in MOVED.items():
    try:
        importlib.import_module(old)
        raise SystemExit(f"no warning for {old}")
    except DeprecationWarning as warning:
        assert f"{old} is now {new}" in str(warning), warning
warnings.simplefilter("ignore", DeprecationWarning)
for old, new in MOVED.items():
    assert importlib.import_module(old) is importlib.import_module(new), old
from seqjax.pooling import last
from seqjax.unroll import unroll as function
import seqjax.unroll
import jax.numpy as jnp
cell = seqjax.GRU(2, 3)
ys, _ = seqjax.unroll(cell, cell.init(__import__("jax").random.key(0)), jnp.ones((1, 4, 2)))  # still the function's answer
assert ys.shape == (1, 4, 3) and function is seqjax.sequences.unroll.unroll and last is seqjax.last
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
