"""The former home of the trial code, kept so ``ketamine_ptsd.trial`` still imports: the code
lives in the :mod:`ketamine_ptsd.trials` package."""

from .trials import *  # noqa: F403
from .trials import __all__  # noqa: F401
