"""Exceptions raised by nanomag.

Every error a user can provoke with bad input derives from :class:`NanomagError`,
so that the command line can print one clear line instead of a traceback.
"""


class NanomagError(Exception):
    """Base class of all errors caused by user input or unsolvable requests."""


class ConfigError(NanomagError, ValueError):
    """An invalid parameter or configuration file; the message names the key."""


class StartInTargetError(ConfigError):
    """The start state of a first-passage question already lies in its target: every switching time would be 0.

    Raised by every engine, with one message (:func:`nanomag.markov.chain.start_and_target`).
    """

    def __init__(self, start_u, target_u):
        super().__init__(f"start_u={start_u}: the start state already lies in the target (target_u={target_u}); "
                         f"every switching time would be 0")


class UnreachableTargetError(NanomagError):
    """The first-passage target cannot be reached (with probability one) from the start."""


class SolverError(NanomagError):
    """A solver failed for a reason that depends on the device (e.g. a singular generator)."""


class RegimeWarning(UserWarning):
    """A device outside the model's regime of validity (sequential tunnelling); a warning, not an error."""
