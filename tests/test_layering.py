"""The model core stays free of IO and cluster libraries; manifests depend on pyarrow only."""

import ast
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "sovits_core": {"fsspec", "ray", "boto3", "botocore", "s3fs", "pyarrow", "pipelines", "jobs", "manifests"},
    "manifests": {"ray", "torch", "sovits_core", "pipelines", "jobs", "boto3", "s3fs"},
    "pipelines": {"jobs"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no python files found under {package}"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"{package} imports layers it must not: {offenders}"


def test_ray_is_imported_lazily() -> None:
    """`import ray` at module level would make every stage need a cluster library just to be imported."""
    offenders = []
    for f in sorted(ROOT.glob("*/**/*.py")):
        if f.parts[len(ROOT.parts)] not in {"sovits_core", "manifests", "pipelines", "jobs"}:
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "ray" or n.startswith("ray.") for n in names):
                offenders.append(str(f.relative_to(ROOT)))
    assert not offenders, f"module-level `import ray` in {offenders}"
