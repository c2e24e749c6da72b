"""Exceptions raised by nanomag.

Every error a user can provoke with bad input derives from :class:`NanomagError`,
so that the command line can print one clear line instead of a traceback.
"""


class NanomagError(Exception):
    """Base class of all errors caused by user input or unsolvable requests."""


class ConfigError(NanomagError, ValueError):
    """An invalid parameter or configuration file; the message names the key."""


class UnreachableTargetError(NanomagError):
    """The first-passage target cannot be reached (with probability one) from the start."""


class SolverError(NanomagError):
    """A solver failed for a reason that depends on the device (e.g. a singular generator)."""


class RegimeWarning(UserWarning):
    """A device outside the model's regime of validity (sequential tunnelling); a warning, not an error."""
