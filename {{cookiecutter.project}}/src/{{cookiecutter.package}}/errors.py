"""Errors the command line turns into exit codes: 1 for a failed check, 2 for bad input."""

from __future__ import annotations


class ProjectError(Exception):
    """Base class: the message says what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(ProjectError):
    """A settings or contract file is missing or holds a bad value."""


class DataError(ProjectError):
    """A data file is missing, unreadable, or breaks the data contract."""


class ModelNotFoundError(ProjectError):
    """The requested model version is not in the model store."""


class GateFailedError(ProjectError):
    """A trained or evaluated model misses one of the declared objectives."""

    exit_code = 1
