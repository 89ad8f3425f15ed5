"""Work split over the processors this process may use: how many there are, and running a few
independent tasks side by side in threads (numpy lets go of the interpreter in its array work,
which is most of what the tasks do)."""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence


def processors() -> int:
    """The processors this process may run on (Linux says which; elsewhere, the machine's)."""
    if sys.platform.startswith("linux"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def side_by_side(work: Callable, tasks: Sequence[tuple]) -> None:
    """``work(*task)`` for every task: the first in this thread, each other in a thread of its own.
    An error of the first is raised at once, without waiting for the others (daemon threads: an
    interrupted or refused request does not wait for them at exit either); else, once all are
    done, the error of the earliest task that failed."""
    import threading

    failed: dict[int, BaseException] = {}

    def run(i: int) -> None:
        try:
            work(*tasks[i])
        except BaseException as error:  # (raised in the caller's thread, below)
            failed[i] = error

    helpers = [threading.Thread(target=run, args=(i,), name=f"ngram task {i}", daemon=True)
               for i in range(1, len(tasks))]
    for helper in helpers:
        helper.start()
    work(*tasks[0])
    for helper in helpers:
        helper.join()
    if failed:
        raise failed[min(failed)]


class Helper:
    """One thread kept for many short tasks, each run beside the caller's own (``both``): a
    thread made per task costs about a tenth of a millisecond, as much as a short task itself.
    Use as a context manager; the thread ends with the block (a daemon: an interrupted request
    does not wait for it at exit)."""

    def __init__(self) -> None:
        import queue
        import threading

        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="ngram helper", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
                self._done.put(None)
            except BaseException as error:  # (raised in the caller's thread by ``both``)
                self._done.put(error)

    def both(self, mine: Callable, theirs: Callable) -> None:
        """``mine()`` here and ``theirs()`` in the helper thread, side by side; the error of
        either is raised here (``mine``'s at once, without waiting for ``theirs``)."""
        self._tasks.put(theirs)
        mine()
        error = self._done.get()
        if error is not None:
            raise error

    def close(self) -> None:
        self._tasks.put(None)

    def __enter__(self) -> "Helper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
