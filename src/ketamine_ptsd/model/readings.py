"""What a monitored session records: blood pressure and CADSS readings as a clinic takes them.

The equations give each patient's true response, the same at every session apart from
tolerance. What is written down varies more: the drug's part of the response varies from
session to session within a patient (a log-normal factor per patient and session, mean 1,
so mean responses stay those of the equations), the dosing procedure raises pressure a little
in any arm (anxiety, posture), and each reading carries the noise of the cuff or the rater.
Tail rates (the share of patients with a systolic rise >= 40 mmHg at least once in 8
sessions) depend on all three; the parameters are in ``params/model.toml`` (acute).

Every draw comes from the patient's own counter-based stream (``streams.patient_normals``),
keyed on the patient id, so a patient's readings do not depend on who else is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import ParameterTable, model_table

#: Random streams of the readings (the population module uses 1-4, trials 100 and up).
STREAM_BP_SESSION, STREAM_PROCEDURE, STREAM_CUFF, STREAM_CADSS_SESSION, STREAM_CADSS_READING = 300, 301, 302, 303, 304

#: The reading schedule of the esketamine label (SPRAVATO prescribing information 2.1 and 5.6):
#: before the dose, about 40 min after it and at about 1.5 h, in hours from the dose.
LABEL_READINGS_H = (0.0, 40 / 60, 1.5)


def _lognormal_mean_one(z: np.ndarray, cv: float) -> np.ndarray:
    omega = np.sqrt(np.log1p(cv**2)) if cv > 0 else 0.0
    return np.exp(omega * z - 0.5 * omega**2)


def _normals(seed: int | None, ids: np.ndarray, n_dims: int, stream: int) -> np.ndarray:
    from ..streams import patient_normals

    return patient_normals(0 if seed is None else int(seed), np.asarray(ids), n_dims, stream)


@dataclass(frozen=True)
class Readings:
    """Recorded values, patients x readings."""

    sbp: np.ndarray | None = None
    dbp: np.ndarray | None = None
    cadss: np.ndarray | None = None


def observe_session_readings(ids, seed, session: np.ndarray, post: np.ndarray, *, sbp=None, dbp=None,
                             sbp0=None, dbp0=None, cadss=None, table: ParameterTable | None = None,
                             stream_offset: int = 0) -> Readings:
    """Recorded readings from true values (patients x readings).

    ``session`` gives the session number (0, 1, ...) of each reading and ``post`` whether it
    is taken after the dose (a pre-dose reading has no drug and no procedure effect);
    ``sbp0``/``dbp0`` are the patients' baseline pressures, from which the drug's rise is
    measured. ``stream_offset`` separates arms that share patient ids.
    """
    table = table or model_table()
    ids = np.asarray(ids)
    session = np.asarray(session, dtype=np.int64)
    post = np.asarray(post, dtype=bool)
    n_sessions = int(session.max()) + 1 if session.size else 0
    n, k = ids.size, session.size
    out = {}
    if sbp is not None or dbp is not None:
        factor = _lognormal_mean_one(_normals(seed, ids, n_sessions, STREAM_BP_SESSION + stream_offset),
                                     table.value("bp_session_cv"))[:, session]
        z_proc = _normals(seed, ids, n_sessions, STREAM_PROCEDURE + stream_offset)[:, session]
        noise = _normals(seed, ids, 2 * k, STREAM_CUFF + stream_offset)
        for j, (name, values, base) in enumerate((("sbp", sbp, sbp0), ("dbp", dbp, dbp0))):
            if values is None:
                continue
            values = np.asarray(values, dtype=float).reshape(n, k)
            base = np.asarray(base, dtype=float).reshape(n, 1)
            rise = table[f"procedure_{name}_rise"]
            procedure = rise.value * _lognormal_mean_one(z_proc, rise.iiv_cv) * post
            out[name] = (base + factor * (values - base) + procedure
                         + table.value(f"cuff_sd_{name}") * noise[:, j * k:(j + 1) * k])
    if cadss is not None:
        values = np.asarray(cadss, dtype=float).reshape(n, k)
        factor = _lognormal_mean_one(_normals(seed, ids, n_sessions, STREAM_CADSS_SESSION + stream_offset),
                                     table.value("cadss_session_cv"))[:, session]
        noise = table.value("cadss_reading_sd") * _normals(seed, ids, k, STREAM_CADSS_READING + stream_offset)
        out["cadss"] = np.clip(factor * values + noise, 0.0, 92.0)
    return Readings(**out)
