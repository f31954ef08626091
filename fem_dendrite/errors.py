"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """Bad input (config, mesh, CLI). The message names the field and what is accepted."""


class ConvergenceError(RuntimeError):
    """A nonlinear solve did not converge (SNES diverged); the time stepper cuts dt and retries."""
