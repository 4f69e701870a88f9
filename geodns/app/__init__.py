"""The composition root (core.App): its start (lifecycle), reload, watcher and writes beside it."""

from geodns.app.core import App, repo_root
from geodns.app.lifecycle import first_round_timeout

__all__ = ["App", "first_round_timeout", "repo_root"]
