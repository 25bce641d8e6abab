"""Scoring's named exceptions, in a module light enough for the CLI to import at start."""

from __future__ import annotations


class ScoringError(Exception):
    """Scoring cannot run on this data; the message says what to do (a user error)."""


class ModelError(Exception):
    """No model can be trained on this data; the message says what is missing."""
