"""Corrections people send ("Wrong? It was a 4"): the store (store.py), its views (views.py), the CLI
(__main__.py) and the migrations. What is stored: the strokes (or, for a picture, only the 28x28 image the
model saw), the canvas size, the true label, the model's answer and the model file's sha256, and the time.
No IP address, no cookie: the rate limit keeps client addresses in memory only, for a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from app.config import Settings
from app.corrections import views
from app.corrections.store import CorrectionStore
from app.web.offload import Offloader
from app.web.ratelimit import RateLimit

if TYPE_CHECKING:
    from app import DigitCanvas

T = TypeVar("T")
OWNER_FAILURES = 10  # wrong owner tokens per address and minute before the owner page locks that address out


@dataclass
class Corrections:
    """The store, the one thread that ever talks to its database, and the per-address limit."""

    store: CorrectionStore
    thread: Offloader  # corrections waiting for the database are bounded: past it a 503
    limit: RateLimit  # corrections stored per address
    owner_failures: RateLimit  # wrong owner tokens per address: past it, the owner page is locked for a minute

    @classmethod
    def from_settings(cls, settings: Settings) -> Corrections:
        """The corrections the settings name; the database is created and migrated in the background, so
        a database that is down delays nothing."""
        corrections = cls(CorrectionStore(settings.database_url, settings.corrections_max_rows),
                          Offloader(1, settings.corrections_queue), RateLimit(settings.corrections_per_minute),
                          RateLimit(OWNER_FAILURES))
        corrections.thread.start(corrections.store.count)
        return corrections

    def run(self, job: Callable[..., T], *args: object) -> T:
        """job(*args) in the database thread (Busy when too many wait)."""
        return self.thread.run(job, *args)

    def is_down(self) -> bool:
        """Whether the database failed last (the breaker is open or cooling)."""
        return self.store.breaker.down_since is not None


def init_app(app: DigitCanvas) -> None:
    """The app's corrections (app.current.corrections()) and their views."""
    app.extensions["corrections"] = Corrections.from_settings(app.settings)
    app.register_blueprint(views.bp)
