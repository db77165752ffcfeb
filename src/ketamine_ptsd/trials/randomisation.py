"""Randomisation: which arm each enrolled patient receives (permuted blocks or complete
randomisation, seeded by the trial seed). Enrolment, and :func:`allocation` which joins the
two, are in :mod:`.context`, next to the population the patients come from."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ratio(sizes: Sequence[int]) -> list[int]:
    """The arms' sizes divided by their greatest common divisor (the allocation ratio)."""
    g = math.gcd(*sizes)
    return [s // g for s in sizes]


def randomisation_list(sizes: Sequence[int], seed: int, method: str = "permuted_blocks",
                       block_size: int = 4) -> np.ndarray:
    """Arm index of each enrolled patient, in order of enrolment, with exactly ``sizes[a]``
    patients in arm ``a``.

    ``permuted_blocks``: blocks of ``block_size`` in the ratio of the sizes, each shuffled,
    the last block made of what remains; ``complete``: one shuffle of the whole list. The
    shuffles come from a generator seeded with the trial seed.
    """
    rng = np.random.default_rng([int(seed), 0x7A11])
    sizes = np.asarray(sizes, dtype=np.int64)
    arms = np.arange(sizes.size)
    if method == "complete":
        return rng.permutation(np.repeat(arms, sizes))
    parts = np.asarray(ratio(sizes.tolist()))
    per_block = parts * (block_size // int(parts.sum()))
    n_full = int(sizes.sum()) // block_size
    full = rng.permuted(np.tile(np.repeat(arms, per_block), (n_full, 1)), axis=1).ravel()
    rest = rng.permutation(np.repeat(arms, sizes - n_full * per_block))
    return np.concatenate([full, rest]).astype(np.int64)
