"""Composition root: load config, build every part, run, stop.

Filled in as the parts land; today it only names the version.
"""

from gatewayd import __version__


def version() -> str:
    """The running version, for `gatewayd --version` and the logs."""
    return __version__
