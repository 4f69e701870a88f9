"""The composition root (core.App), with its reload and watcher halves beside it."""

from geodns.app.core import App, first_round_timeout, repo_root

__all__ = ["App", "first_round_timeout", "repo_root"]
