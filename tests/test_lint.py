"""The code base stays ruff clean (the rules are in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the [dev] extra)")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_device_runtime_never_imports_tensorflow_or_converters():
    code = (
        "import sys, edgeser, edgeser.cli, edgeser.model, edgeser.frontend, edgeser.audio, "
        "edgeser.datasets, edgeser.normalisation\n"
        "bad = [m for m in sys.modules\n"
        "       if m.split('.')[0] in ('tensorflow', 'keras', 'converters')]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
