"""A course's outputs do not depend on how the solver came to be in the process.

The solver is compiled once per model source and cached on disk; a later process loads the
machine code. Both must round every output the same way. With LLVM free to reassociate sums
in ``observe``, they did not: the process that compiled the solver and the processes that
loaded it wrote outputs differing in the last bit (states were equal), so a trial's figures
depended on the cache's history. ``observe`` is now compiled without that licence.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

CODE = """
import sys
import numpy as np
from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.engine import NumbaEngine
traj = simulate(induction_series([0, 2, 4]), Population.virtual(12, seed=5), engine=NumbaEngine(threads=1),
                times=np.arange(0.0, 24.0 * 9, 0.5))
np.save(sys.argv[1], np.asarray(traj.values))
"""


@pytest.mark.slow
def test_outputs_are_the_same_compiled_here_or_loaded_from_the_cache(tmp_path):
    env = dict(os.environ, KETAMINE_PTSD_CACHE=str(tmp_path / "cache"))
    runs = []
    for name in ("compiled", "loaded"):
        out = tmp_path / f"{name}.npy"
        proc = subprocess.run([sys.executable, "-c", CODE, str(out)], capture_output=True, text=True,
                              timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(np.load(out))
    compiled, loaded = runs
    assert compiled.shape == loaded.shape and np.isfinite(compiled).all()
    differ = np.argwhere(compiled != loaded)
    assert differ.size == 0, f"{len(differ)} outputs differ between a fresh compile and the cache, first {differ[:3]}"
