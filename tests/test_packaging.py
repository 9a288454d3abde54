"""Packaging: environment.yml names every dependency of pyproject.toml; the console script resolves."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge names that differ from the PyPI name
CONDA_NAMES = {"duckdb": "python-duckdb"}
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def split(requirement: str) -> tuple[str, str]:
    """('Name', 'specifier') with the name normalised as PEP 503 does and spaces removed."""
    m = _REQ.match(requirement)
    assert m, f"cannot parse requirement {requirement!r}"
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2).replace(" ", "")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def environment() -> dict[str, str]:
    """Every package environment.yml installs (conda and pip sections) → its specifier."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    found = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-"):
                continue
            name, spec = split(item.replace("=", "==", 1) if re.match(r"^[\w.-]+=[^=]", item)
                               else item)
            found[name] = spec
    return found


def test_split_parses_requirements():
    assert split("Pandas>=3.0") == ("pandas", ">=3.0")
    assert split("scikit_learn >= 1.5") == ("scikit-learn", ">=1.5")
    assert split("lifetimes==0.11.3; python_version>'3'") == ("lifetimes", "==0.11.3")
    assert split("pip") == ("pip", "")


def required() -> list[str]:
    project = pyproject()["project"]
    extras = project.get("optional-dependencies", {})
    return project["dependencies"] + [r for reqs in extras.values() for r in reqs]


@pytest.mark.parametrize("requirement", required())
def test_environment_yml_names_every_pyproject_dependency_with_the_same_bound(requirement):
    name, spec = split(requirement)
    env = environment()
    conda = CONDA_NAMES.get(name, name)
    assert conda in env, f"environment.yml lacks {conda} (pyproject: {requirement})"
    assert env[conda] == spec, f"{conda}: environment.yml has {env[conda]!r}, pyproject {spec!r}"


def test_environment_yml_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert pythons == ["python=3.11"]
    assert pyproject()["project"]["requires-python"] == ">=3.11"


def test_environment_yml_installs_clvkit_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


def test_console_script_entry_point_resolves_to_cli_main():
    from clvkit.cli import main

    assert pyproject()["project"]["scripts"]["clvkit"] == "clvkit.cli:main"
    (ep,) = entry_points(group="console_scripts", name="clvkit")
    assert ep.value == "clvkit.cli:main"
    assert ep.load() is main


def test_installed_console_script_runs():
    exe = Path(sys.executable).with_name("clvkit")
    assert exe.exists(), f"no console script next to {sys.executable}; pip install -e . first"
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("usage: clvkit")


def test_importing_clvkit_does_not_import_lifetimes_or_matplotlib():
    code = ("import sys, clvkit, clvkit.config, clvkit.cli, clvkit.pipeline; "
            "print(sorted(m for m in ('lifetimes', 'matplotlib') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
