"""Errors about what a user supplied (config, data, workdir), each with a one-line message.

Entry points catch `ImitationError` and print its message instead of a traceback;
anything else is a bug and keeps its traceback.
"""


class ImitationError(Exception):
  """Base class of the errors a user can fix."""


class ConfigError(ImitationError, ValueError):
  """A config value is missing, unknown or inconsistent."""


class DatasetError(ImitationError, ValueError):
  """A dataset is missing, unreadable, or does not match the environment."""


class WorkdirError(ImitationError, OSError):
  """The workdir cannot be created or written."""


class TrainingError(ImitationError, ArithmeticError):
  """Training diverged: a loss or gradient became nan or inf."""


class CheckpointError(ImitationError, ValueError):
  """No checkpoint can be restored (unreadable, or written by a different config)."""
