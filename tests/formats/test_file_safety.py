"""Saves survive being killed: the previous model file stays intact and loadable."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import REPO, TINY
from ngram import AddK, train
from ngram.formats.native import load, save

# The child saves a ~100 MB model over the good one. Its file handle pauses once 1 MiB is on
# disk and says so, so the parent's SIGKILL lands in the middle of the write every time
# instead of racing the write.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from ngram import Level, Model, Vocabulary
    from ngram.formats.native import save

    V, N = 30, 5
    levels = []
    for n in range(1, N + 1):
        keys = np.arange(0, V**n, 1 if n < N else 6)  # sorted and unique; 4 million 5-grams
        levels.append(Level(keys.astype(np.int64), np.full(len(keys), -np.log(V)), np.zeros(len(keys))))
    model = Model(Vocabulary("abcdefghijklmnopqrstuvwxyzäöüß"), N, levels, {"name": "synthetic"})

    real_fdopen = os.fdopen

    class Pausing:
        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def write(self, data):
            count = self.handle.write(data)
            self.written += len(data)
            if self.written > 1 << 20:
                self.handle.flush()
                os.fsync(self.handle.fileno())
                print("writing", flush=True)
                time.sleep(120)
            return count

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    os.fdopen = lambda fd, mode: Pausing(real_fdopen(fd, mode))
    import ngram.formats.native
    ngram.formats.native._from_arrays = lambda arrays, label: None  # synthetic numbers: no language model, and not what this tests
    save(model, sys.argv[1])
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_a_save_killed_midway_leaves_the_previous_model_intact(tmp_path):
    path = tmp_path / "model.ngram"
    previous = train(TINY, 3, AddK(0.1))
    save(previous, path)
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert path.read_bytes() == before
    names = ["anna", "bob", "nan"]
    assert np.array_equal(load(path).score(names)[0], previous.score(names)[0])
    # What the kill leaves behind is a hidden partial temporary file beside it, never the model.
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".model.ngram.{child.pid}.") and leftovers[0].name.endswith(".tmp")
    assert leftovers[0].stat().st_size > 1 << 20
    # The next save into the folder removes it once it is stale (its writer is gone and it has
    # not been touched for a minute; here its clock is set back instead of waiting).
    os.utime(leftovers[0], (time.time() - 120, time.time() - 120))
    save(previous, tmp_path / "other.ngram")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ngram", "other.ngram"]
