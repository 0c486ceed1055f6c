"""The exceptions sessionrec raises on bad input.

Every error a user can cause (a malformed file, an unknown config key, a bad
checkpoint) is one of these, with a message that names the problem.
"""

from __future__ import annotations


class SessionRecError(Exception):
    """Base class of every error sessionrec raises on purpose."""


class DataError(SessionRecError):
    """A data file or dataset is malformed, empty or of the wrong format."""


class ConfigError(SessionRecError):
    """A configuration key is unknown, or a value has the wrong type or range."""


class CheckpointError(SessionRecError):
    """A saved model or run directory is missing, truncated or incompatible."""


class UnknownModelError(SessionRecError, KeyError):
    """No model is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
