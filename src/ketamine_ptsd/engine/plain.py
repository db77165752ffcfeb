"""The model's numba functions run again as plain Python, with ``max``, ``min`` and ``math``
bound to another library's versions: the one way the equations are reused outside numba.

The JAX engine binds them to ``jax.numpy`` (the same equations on a JAX device) and the SBML
export to symbolic versions (the equations written out as formulas), so neither rewrites the
model and neither can drift from what the numba engine integrates. Each numba function is
replaced by its pure-Python original (``py_func``) with its globals copied and those names
rebound, and so is every numba function it calls; everything else it reads (the layout
indices, ``power``'s plain version, constants) is the model's own.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

#: The names a model function may read that another library replaces, and the model's
#: numerical settings that an export may turn off (``DRIVE_FLOOR``, see ``model.cascade``).
REBINDABLE = frozenset({"max", "min", "math", "DRIVE_FLOOR"})


def _rebound(func, names: dict[str, Any], done: dict[int, types.FunctionType]) -> types.FunctionType:
    if id(func) in done:
        return done[id(func)]
    py = func.py_func
    env = dict(py.__globals__)
    env.update(names)
    rebound = types.FunctionType(py.__code__, env, py.__name__, py.__defaults__, py.__closure__)
    done[id(func)] = rebound
    for name, value in py.__globals__.items():
        if hasattr(value, "py_func"):
            env[name] = _rebound(value, names, done)
    return rebound


def plain_functions(module_name: str, **names: Any) -> types.SimpleNamespace:
    """Every numba function of the model module ``module_name`` (``Model.module``, e.g.
    ``rhs`` and ``observe``) as plain Python, with ``names`` (some of ``max``, ``min``,
    ``math``, ``DRIVE_FLOOR``) bound to the caller's versions in it and in every numba function it calls."""
    unknown = set(names) - REBINDABLE
    if unknown:
        raise ValueError(f"only {sorted(REBINDABLE)} can be rebound, not {sorted(unknown)}")
    module = importlib.import_module(module_name)
    done: dict[int, types.FunctionType] = {}
    return types.SimpleNamespace(**{name: _rebound(value, names, done) for name, value in vars(module).items()
                                    if hasattr(value, "py_func")})
