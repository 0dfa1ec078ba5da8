"""Everything that trains (only this package imports TensorFlow); app/ holds what the server runs."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

# TensorFlow's C++ start-up lines (CPU features, plugin registration) say nothing a user can act on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Send what native code writes to stdout and stderr nowhere for the block; Python exceptions still surface."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)


def import_tensorflow() -> None:
    """Import TensorFlow once, without the oneDNN and absl notices its C++ side prints whatever the log level."""
    if "tensorflow" in sys.modules:
        return
    try:
        with quiet_native_output():
            import tensorflow  # noqa: F401
    except ImportError:
        raise SystemExit("error: training needs TensorFlow, which the serving install (make run) leaves out: make "
                         "test, or .venv/bin/pip install --require-hashes -r requirements/dev.txt, adds it") from None
