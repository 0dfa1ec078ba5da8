"""Typed access to the running app's parts from inside a request: its settings, its Reader, its corrections."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app

if TYPE_CHECKING:
    from app import DigitCanvas
    from app.config import Settings
    from app.corrections import Corrections
    from app.reader import Reader


def app() -> DigitCanvas:
    """The app answering this request."""
    return cast("DigitCanvas", current_app._get_current_object())


def settings() -> Settings:
    """The app's settings (app/config.py)."""
    return app().settings


def reader() -> Reader:
    """The app's Reader: every model and rule between a request's drawing or picture and its answer."""
    return current_app.extensions["reader"]


def corrections() -> Corrections:
    """The app's corrections: the store, its one database thread and the per-address limit."""
    return current_app.extensions["corrections"]
