"""Counter-based random streams: every random number of patient ``id`` is a pure function of
``(seed, stream, id, dimension)``, so a patient is the same whichever chunk, worker or order
it is simulated in. Shared by the virtual population, the trial layer and the model's
recorded readings."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return x ^ (x >> np.uint64(31))


def patient_uniforms(seed: int, ids: np.ndarray, n_dims: int, stream: int = 0) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(ids), n_dims), a pure function of (seed, stream, id, dim)."""
    ids = np.asarray(ids, dtype=np.uint64)
    key = _splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ _splitmix64(np.uint64(stream)))
    with np.errstate(over="ignore"):
        base = _splitmix64(key ^ (ids[:, None] * np.uint64(0xD1B54A32D192ED03)))
        x = _splitmix64(base + np.arange(n_dims, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def patient_normals(seed: int, ids: np.ndarray, n_dims: int, stream: int = 0) -> np.ndarray:
    """Standard normals from :func:`patient_uniforms` (inverse CDF)."""
    return ndtri(patient_uniforms(seed, ids, n_dims, stream))
