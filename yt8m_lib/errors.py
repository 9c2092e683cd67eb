"""Errors that name what is wrong and where, so a bad file never trains silently."""

from __future__ import annotations


class Yt8mError(Exception):
    """Base class: the CLI turns any of these into a one-line message and exit status 2."""


class DataError(Yt8mError):
    """Bad input data: names the file, the record index (when known) and the problem."""

    def __init__(self, path, message: str, record: int | None = None):
        self.path = str(path)
        self.record = record
        self.problem = message
        where = self.path if record is None else f"{self.path}, record {record}"
        super().__init__(f"{where}: {message}")


class ConfigError(Yt8mError):
    """A command line or configuration that cannot work (unknown model, wrong data level, …)."""


class MissingFrameworkError(Yt8mError):
    """A Keras command without TensorFlow installed, or a PyTorch command without torch."""
