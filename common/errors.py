"""The one root exception of HeatWatch, and the few kinds callers tell apart."""


class HeatWatchError(Exception):
    """Root of every error HeatWatch raises on purpose."""


class ConfigError(HeatWatchError):
    """A setting is missing or malformed. The message names the variable and the fix."""


class StorageError(HeatWatchError):
    """The database could not be opened, migrated or written."""
