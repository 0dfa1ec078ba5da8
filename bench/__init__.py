"""Benchmarks and evaluations (make bench, make eval)."""

import tempfile


def scratch_app(**config):
    """The real app in testing mode, its corrections database a throwaway SQLite file (never instance/);
    keyword arguments override config (e.g. MODEL_PATH, to judge a cross-validation fold's model; the
    shipped lookalike bank belongs to the shipped model, so another model gets none)."""
    from app import create_app

    if "MODEL_PATH" in config:
        config.setdefault("LOOKALIKES_PATH", "")
    return create_app({"TESTING": True,
                       "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='digit-canvas-')}/corrections.db",
                       **config})
