"""Virtual randomised trials: the specification, its arms, enrolment and randomisation, the
simulation in chunks, and the endpoints and statistics a trial report gives.

A trial is written in TOML (see the built-in ``trials/feder2021.toml``) and read with
:func:`load_spec` (module :mod:`.spec`, its sections in :mod:`.sections`, line numbers for
errors from :mod:`.toml_lines`). :func:`run_trial` (:mod:`.run`) enrols virtual patients
(inclusion criteria applied to their baseline covariates), randomises them
(:mod:`.randomisation`), simulates each arm in chunks of patients (on a Dask cluster when given
a client; the same numbers either way, since every random draw of a patient comes from that
patient's own stream) and keeps only what the endpoints need. :func:`endpoints`
(:mod:`.endpoints`, statistics in :mod:`.statistics`) turns the result into the numbers of a
trial report; :func:`power` (:mod:`.power`) repeats the trial with new seeds.

Research software: simulated trials are not evidence that a treatment works, and nothing here
is medical advice.
"""

from .context import allocation
from .endpoints import arm_endpoints, day_key, definitions, endpoints
from .measures import days_to_loss_of_response, reduction
from .power import PowerTask, power, trial_seed
from .randomisation import randomisation_list
from .run import DEFAULT_CHUNK, ArmData, ChunkTask, TrialResult, chunk_tasks, run_chunk, run_trial
from .sections import (
    CLUSTERS,
    NOTICE,
    SCORES,
    AnalysisSpec,
    ArmSpec,
    FollowUpSpec,
    Maintenance,
    RemissionSpec,
    ResponseSpec,
    score_max,
)
from .spec import BUILTIN, MMRM_MAX_PATIENTS, TrialSpec, builtin_spec, builtin_spec_text, load_spec, parse_spec
from .statistics import (
    Comparison,
    KaplanMeier,
    change_from_baseline,
    cohen_d,
    compare,
    loss_of_response,
    mean_score,
    observed_scores,
    reduction_at,
    remission_rate,
    responder_rate,
)

__all__ = [
    "BUILTIN", "CLUSTERS", "DEFAULT_CHUNK", "MMRM_MAX_PATIENTS", "NOTICE", "SCORES", "AnalysisSpec", "ArmData",
    "ArmSpec", "ChunkTask", "Comparison", "FollowUpSpec", "KaplanMeier", "Maintenance", "PowerTask",
    "RemissionSpec", "ResponseSpec", "TrialResult", "TrialSpec", "allocation", "arm_endpoints", "builtin_spec",
    "builtin_spec_text", "change_from_baseline", "chunk_tasks", "cohen_d", "compare", "day_key",
    "days_to_loss_of_response", "definitions", "endpoints", "load_spec", "loss_of_response", "mean_score",
    "observed_scores", "parse_spec", "power", "randomisation_list", "reduction", "reduction_at", "remission_rate",
    "responder_rate", "run_chunk", "run_trial", "score_max", "trial_seed",
]
