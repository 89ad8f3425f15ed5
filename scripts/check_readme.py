"""Run every command of README.md's bash blocks, in order, as a user would from the repo root.

    python scripts/check_readme.py            # each command with its exit status and time; non-zero exit if any failed
    python scripts/check_readme.py --list     # only list the commands

The commands run in a scratch folder laid out like a clone (data/, scripts/, docs/ linked from this
repository, ../shared linked beside it when present), so the files they write land there, not in the
repository. `pip install` lines and the test command are skipped (they are what CI runs); a line
that ends in a comment `# (not run: why)` is skipped and listed with its reason; `--quick` also skips
lines marked `(slow: ...)`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"^(pip |python -m pytest)")


def commands(readme: Path) -> list[str]:
    out, inside = [], False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash" if not inside else False
            continue
        if inside and line.strip() and not line.lstrip().startswith("#"):
            out.append(line.strip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--quick", action="store_true", help="skip lines marked (slow: ...)")
    args = parser.parse_args()
    lines = commands(REPO / "README.md")
    if args.list:
        print("\n".join(lines))
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="readme-"))
    work = scratch / "clone"
    work.mkdir()
    for name in ("data", "scripts", "docs", "ngram", "tests", "pyproject.toml", "README.md"):
        (work / name).symlink_to(REPO / name)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (scratch / "shared").symlink_to(shared)
    # `ngram` as an installed console script would be: this checkout's package, run by this Python.
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    (bin_dir / "ngram").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ngram "$@"\n')
    (bin_dir / "ngram").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    failed = 0
    for line in lines:
        if SKIP.match(line) or "(not run:" in line or (args.quick and "(slow:" in line):
            print(f"skip  {line}")
            continue
        started = time.perf_counter()
        result = subprocess.run(line, shell=True, cwd=work, env=env, capture_output=True, text=True,
                                timeout=args.timeout, executable="/bin/bash")
        seconds = time.perf_counter() - started
        status = "ok  " if result.returncode == 0 else "FAIL"
        failed += result.returncode != 0
        print(f"{status}  {seconds:6.1f} s  {line}")
        if result.returncode != 0:
            print("      " + (result.stderr.strip().splitlines() or ["(no stderr)"])[-1])
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"{len(lines)} commands, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
