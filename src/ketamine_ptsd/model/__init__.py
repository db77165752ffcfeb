"""The model: what is computed (right-hand sides, outputs, parameters, dose mapping).

``pk``, ``acute``, ``cascade`` and ``symptoms`` each hold one layer's equations as
numba functions on the shared state vector laid out in ``layout``; ``system`` assembles
them into the right-hand side and the output function that an engine integrates.
"""

from .system import MODEL, Model

__all__ = ["MODEL", "Model"]
