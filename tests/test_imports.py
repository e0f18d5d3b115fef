"""Layers point one way: every import in seqjax/ (module level and inside functions) is parsed, and
the parts of the library (the top-level modules and packages of seqjax/) must import only parts of
lower layers (so they form no cycle), and never reach for
another part's private (``_name``) helpers. The layers, bottom first, are written out below: a
newcomer reads the architecture here, and a change that breaks it fails this test."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "seqjax"

# bottom first; a part imports parts of lower layers only (none of its own layer)
LAYERS = [
    ("foundations: types, checks, data and plots (no model code)", ["types", "checks", "data", "plots", "host_memory"]),
    ("arrays: masks, scans, dense layers, positions", ["masking", "scan", "layers", "positional"]),
    ("fast paths: the kernels and the one option type that chooses among them", ["kernels"]),
    ("the cell protocol, attention, the decoding loops", ["cell", "attention", "decoding"]),
    ("cells, unroll, multi-head attention, the attention decoder, training", ["cells", "unroll", "diagnostics", "multi_head_attention",
                                                                              "attention_decoder", "train"]),
    ("composites: wrappers, convolutions, transformer layers, word vectors, the command line",
     ["wrappers", "conv", "transformer", "embeddings", "config"]),
    ("pooling and interop", ["pooling", "interop"]),
    ("models", ["models"]),
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
