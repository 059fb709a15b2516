"""The built wheels carry what PyPI and pip show: license, README, classifiers, py.typed."""

from __future__ import annotations

import email.parser
import email.policy
import importlib
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ("taskq_core", "taskq_memory", "taskq_redis")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three wheels, built from the source tree with the installed hatchling."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(out), *(str(ROOT / d) for d in DISTRIBUTIONS)],
        check=True,
    )  # fmt: skip
    built = {}
    for dist in DISTRIBUTIONS:
        [wheel] = out.glob(f"{dist}-*.whl")
        built[dist] = wheel
    return built


def project(dist: str) -> dict:
    return tomllib.loads((ROOT / dist / "pyproject.toml").read_text())["project"]


def metadata(wheel: Path) -> email.message.EmailMessage:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(name).decode()
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_ships_the_license_file(wheels, dist):
    with zipfile.ZipFile(wheels[dist]) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        shipped = zf.read(name).decode()
    assert shipped == (ROOT / "LICENSE").read_text()
    assert "MIT License" in shipped
    meta = metadata(wheels[dist])
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_long_description_is_the_distributions_readme(wheels, dist):
    meta = metadata(wheels[dist])
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = (ROOT / dist / "README.md").read_text()
    assert meta.get_payload().strip() == readme.strip()
    # A real README, not a pointer elsewhere; no link that only works inside the repository.
    assert len(readme.splitlines()) >= 15
    assert not re.search(r"\]\((?!https://)[^)]*\)", readme), "relative link in a PyPI README"


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_classifiers_match_requires_python(wheels, dist):
    meta = metadata(wheels[dist])
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    # PEP 639: License-Expression replaces the license classifiers, which PyPI rejects with it.
    assert not [c for c in classifiers if c.startswith("License ::")]
    floor = re.fullmatch(r">=3\.(\d+)", meta["Requires-Python"])
    assert floor, meta["Requires-Python"]
    minors = sorted(
        int(m.group(1))
        for c in classifiers
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    # The oldest version claimed is the floor .ci/run's last step installs on.
    assert minors[0] == int(floor.group(1))
    assert meta["Keywords"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert urls == project(dist)["urls"]
    assert all(url.startswith("https://") for url in urls.values())


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_is_typed_and_carries_its_version(wheels, dist):
    with zipfile.ZipFile(wheels[dist]) as zf:
        assert f"{dist}/py.typed" in zf.namelist()
    assert metadata(wheels[dist])["Version"] == project(dist)["version"]
    assert importlib.import_module(dist).__version__ == project(dist)["version"]


def test_core_wheel_runs_as_a_module(wheels):
    with zipfile.ZipFile(wheels["taskq_core"]) as zf:
        assert "taskq_core/__main__.py" in zf.namelist()


def test_python_dash_m_taskq_core_prints_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "taskq_core", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"taskq, version {project('taskq_core')['version']}"


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_each_distribution_has_the_same_license_as_the_repository(dist):
    assert (ROOT / dist / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
