"""Third-party variants: the example package installs, shows in `ganzoo list` and trains
through the CLI; a broken plugin affects only itself. All offline, in subprocesses, so
the test's entry points never leak into this process's registry."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ganzoo-relativistic"


def ganzoo(*args, path=(), cwd):
    """Run the public CLI in a fresh interpreter with ``path`` on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def fake_distribution(site: Path, name: str, entry_points: str, modules: dict) -> None:
    """A throw-away installed distribution: ``name``.dist-info with METADATA and
    entry_points.txt, and its modules, in directory ``site``."""
    info = site / f"{name}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


def test_example_package_installs_lists_and_trains_through_the_cli(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                          "--no-build-isolation", "--target", str(site), str(source)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    assert (site / "ganzoo_relativistic.py").is_file()

    listed = ganzoo("list", path=[site], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(l for l in listed.stdout.splitlines() if l.strip().startswith("ralsgan"))
    assert "Relativistic average LSGAN" in line and "Jolicoeur-Martineau" in line
    assert "wgan-gp" in listed.stdout and "failed to load" not in listed.stdout

    out = tmp_path / "run"
    trained = ganzoo("train", "ralsgan", "--dataset", "ring8", "--steps", "50", "--batch-size", "32",
                     "--log-every", "25", "--no-progress", "--out", str(out), path=[site], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["variant"] == "ralsgan" and summary["status"] == "ok" and summary["steps"] == 50
    assert summary["real_images"] == 50 * 2 * 32  # its G step looks at a real batch too
    assert all(abs(v) < 1e6 for v in summary["final"].values())


BROKEN = {
    "plugin_ok": '''
from ganzoo import Variant

class Hinge(Variant):
    """A working test plugin."""
    paper = "none"
    def d_loss(self, r, f): return (1 - r).relu().mean() + (1 + f).relu().mean()
    def g_loss(self, f): return -f.mean()
''',
    "plugin_import_error": '''
import a_module_that_is_not_installed
''',
    "plugin_boom": '''
from ganzoo import Variant

class Boom(Variant):
    """A plugin whose loss raises on its second step."""
    calls = 0
    def d_loss(self, r, f):
        Boom.calls += 1
        if Boom.calls == 2:
            raise RuntimeError("the plugin's own bug")
        return (f - r).mean()
    def g_loss(self, f): return -f.mean()
''',
}
BROKEN_ENTRY_POINTS = """[ganzoo.variants]
okvariant = plugin_ok:Hinge
needs-missing = plugin_import_error:Whatever
boom = plugin_boom:Boom
"""


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    fake_distribution(site, "ganzoo_test_plugins", BROKEN_ENTRY_POINTS, BROKEN)
    return site


def test_plugin_that_fails_on_import_is_a_warning_and_the_rest_works(broken_site, tmp_path):
    listed = ganzoo("list", path=[broken_site], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "needs-missing" in listed.stderr and "a_module_that_is_not_installed" in listed.stderr
    assert "plugin 'needs-missing' failed to load" in listed.stdout
    names = {l.split()[0] for l in listed.stdout.splitlines() if l.startswith("  ")}
    assert {"okvariant", "boom", "wgan-gp", "cgan", "nsgan"} <= names and "needs-missing" not in names

    trained = ganzoo("train", "okvariant", "--dataset", "ring8", "--steps", "5", "--no-progress",
                     "--out", str(tmp_path / "ok"), path=[broken_site], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "ok" / "summary.json").read_text())["status"] == "ok"


def test_plugin_that_raises_while_training_fails_its_run_with_a_clear_error(broken_site, tmp_path):
    trained = ganzoo("train", "boom", "--dataset", "ring8", "--steps", "5", "--no-progress",
                     "--out", str(tmp_path / "boom"), path=[broken_site], cwd=tmp_path)
    assert trained.returncode == 2
    last = trained.stderr.strip().splitlines()[-1]
    assert last.startswith("ganzoo train: error: variant 'boom' failed at training step 2")
    assert "RuntimeError: the plugin's own bug" in last and "plugin_boom.py" in last
    assert "Traceback" in trained.stderr  # the plugin's traceback comes first, for its author
    assert not (tmp_path / "boom" / "summary.json").exists()
