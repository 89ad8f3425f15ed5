"""A script whose input is absent (a fresh clone without ../shared) ends with one line naming it."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
@pytest.mark.parametrize("script, needed", [("smoothing_table.py", "italian-names-train.txt"),
                                            ("tune_time.py", "english-names-train.txt"),
                                            ("generation_benchmark.py", "english-names-train.txt")])
def test_a_script_without_the_shared_corpora_says_what_it_needs(tmp_path, script, needed):
    # A checkout with no ../shared beside it: the scripts folder alone, the package from this tree.
    shutil.copytree(REPO / "scripts", tmp_path / "repo" / "scripts")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, f"scripts/{script}"], cwd=tmp_path / "repo", env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {script}: needs ") and result.stderr.count("\n") == 1
    assert needed in result.stderr and "../shared/data" in result.stderr and "Traceback" not in result.stderr
