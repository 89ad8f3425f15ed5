"""What loading a model file and evaluating with it keep in memory: only what scoring reads."""

import os
import subprocess
import sys

import pytest

from ngram import read_names, train
from ngram.estimators import make_estimator
from ngram.formats.native import load, save
from support import generated_names

from conftest import REPO


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate-memory")
    names = generated_names(3000, seed=11)
    (folder / "t.txt").write_text("\n".join(names[1::2]) + "\n", encoding="utf-8")
    model = train(names[::2], 4, make_estimator("modified-kneser-ney"))
    save(model, folder / "m.ngram")
    return folder / "m.ngram", folder / "t.txt"


def child(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          timeout=120).stdout


def test_evaluating_a_file_does_not_load_openssl(files):
    """hashlib brings OpenSSL, 3 MB of a process: only training (the corpus fingerprint) needs it."""
    model, names = files
    out = child(f"import sys; from ngram.formats.native import load; from ngram.evaluation.metrics import evaluate_file; "
                f"evaluate_file(load({str(model)!r}), {str(names)!r}); print('_hashlib' in sys.modules)")
    assert out.split() == ["False"]
