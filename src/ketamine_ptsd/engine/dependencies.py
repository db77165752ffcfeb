"""Which states the requested outputs read: the solver interpolates only those at output times.

Read off the model's own ``observe`` run as plain Python (``engine.plain``) on a state vector
that records every index read, with ``need`` set to the requested outputs. ``observe`` reads a
group's states only when one of the group's outputs is needed, and the branches inside a group
(``max(x, 0)``, ``min``) read the same states either way, so the record is exact for any state:
it is taken on a few random states and patients and their union is kept all the same. A test
holds a course's outputs with the selection to those with every state interpolated.
"""

from __future__ import annotations

import numpy as np


class _ReadRecorder:
    """A state vector that remembers which indices were read."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.read: set[int] = set()

    def __getitem__(self, index):
        self.read.add(int(index))
        return float(self.values[index])


_CACHE: dict[tuple, tuple[int, ...]] = {}


def _states_read(model, outputs: tuple[int, ...]) -> tuple[int, ...]:
    from .plain import plain_functions

    observe = plain_functions(model.module).observe
    n_outputs = len(model.output_names)
    need = np.zeros(n_outputs, dtype=bool)
    need[list(outputs)] = True
    rng = np.random.default_rng(0)
    read: set[int] = set()
    for p in model.prepare(rng.uniform(0.5, 1.5, (4, len(model.param_names)))):
        y = _ReadRecorder(rng.uniform(0.0, 2.0, len(model.state_names)))
        observe(y, p, np.zeros(n_outputs), need)
        read |= y.read
    return tuple(sorted(read))


def states_read(model, out_sel, record_states: bool = False) -> np.ndarray:
    """The indices of the states (sorted, int64) that ``model.observe`` reads to compute the
    outputs ``out_sel``, or ``out_sel`` itself when states are recorded."""
    wanted = tuple(sorted({int(k) for k in np.asarray(out_sel).ravel()}))
    if record_states:
        return np.array(wanted, dtype=np.int64)
    key = (model.module, model.source_files, wanted)
    if key not in _CACHE:
        _CACHE[key] = _states_read(model, wanted)
    return np.array(_CACHE[key], dtype=np.int64)
