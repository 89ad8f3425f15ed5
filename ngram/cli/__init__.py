"""The command line: a thin typer layer that parses, calls the library and formats.

One module per group of verbs (``build``: train, import, mix, prune; ``tune``; ``score``: evaluate,
probs, info, export, classify; ``generate``: sample, top; ``plot``; ``report``), sharing ``common``.
Every user error is one line on stderr and a non-zero exit (1 for bad data or files, 2 for bad usage,
130/143 when interrupted), never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List

import typer

try:  # typer >= 0.20 carries its own copy of click; older releases use click itself
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_exceptions

from ngram.core.errors import NgramError
from .app import app

__all__ = ["app", "main", "run", "verbs"]

# Each verb module registers its verbs on ``app`` when imported; this order is --help's. The
# command line imports the module of the verb it runs only (sample needs none of training's,
# scoring's or the report's imports: a refused request's start-up is most of its time), and all
# of them for anything else (no verb, --help, --version, a verb it does not know).
VERB_MODULES = ("build", "score", "generate", "tune", "plot", "report")
MODULE_OF = {"train": "build", "import": "build", "mix": "build", "prune": "build", "evaluate": "score",
             "probs": "score", "info": "score", "export": "score", "classify": "score", "sample": "generate",
             "top": "generate", "tune": "tune", "plot": "plot", "report": "report"}


def verbs(argv: List[str] | None = None):
    """``app`` with the verbs ``argv`` may run registered (with no ``argv``, every verb), in
    --help's order whatever order they were imported in."""
    import importlib

    verb = argv[0] if argv and not argv[0].startswith("-") else None
    for name in [MODULE_OF[verb]] if verb in MODULE_OF else VERB_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    place = {f"{__name__}.{name}": i for i, name in enumerate(VERB_MODULES)}
    # (every verb is a function registered by its module: its __module__ names the module)
    app.registered_commands.sort(key=lambda c: place.get(c.callback.__module__ if c.callback else None, len(place)))
    return app


class _Terminated(BaseException):
    """SIGTERM, raised where the process is so that saves in progress unwind and clean up."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: List[str] | None = None) -> int:
    """Console entry point: one line on stderr for every user error, never a traceback."""
    command = typer.main.get_command(verbs(sys.argv[1:] if argv is None else argv))
    no_args = getattr(_click_exceptions, "NoArgsIsHelpError", ())
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        # standalone_mode=False: click returns the command's exit code (or raises) instead of
        # exiting; an interrupt inside click's own handling comes back as its Abort or as 130.
        status = command.main(args=argv, prog_name="ngram", standalone_mode=False)
        if isinstance(status, int) and status != 0:
            if status == 130:
                typer.echo("error: interrupted", err=True)
            return status
    except NgramError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1
    except no_args as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except _click_exceptions.UsageError as exc:
        verb = f"ngram {exc.ctx.command_path.split(' ', 1)[1]}" if exc.ctx is not None and exc.ctx.parent is not None else "ngram"
        message = " ".join(exc.format_message().split())
        typer.echo(f"error: {message} (see {verb} --help)", err=True)
        return 2
    except _click_exceptions.ClickException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("error: interrupted", err=True)
        return 130
    except _Terminated:
        typer.echo("error: terminated", err=True)
        return 143
    except EOFError:
        typer.echo("error: aborted: standard input ended", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python's own flush at exit
        # from printing a second error about the same closed pipe.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except MemoryError:
        typer.echo("error: out of memory (try a lower order, a smaller corpus, or --memory)", err=True)
        return 1
    except OSError as exc:
        typer.echo(f"error: {exc.filename + ': ' if getattr(exc, 'filename', None) else ''}{exc.strerror or exc}", err=True)
        return 1
    except Exception as exc:  # a bug in ngram, not the user's fault: still one line; the traceback on request
        if os.environ.get("NGRAM_TRACEBACK"):
            raise
        typer.echo(f"error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                   "this is a bug in ngram, please report it (NGRAM_TRACEBACK=1 shows where)", err=True)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run() -> None:
    sys.exit(main())
