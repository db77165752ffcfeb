"""Rating instruments scored exactly as published.

PCL-5, CAPS-5 (past month / past week / worst month), CADSS (23-item), MADRS, PHQ-9,
IES-R, BPRS positive subscale, C-SSRS screener, DAST-10, and the O'Leary-Sant ICSI /
ICPI bladder indices, plus a generic change/response rule for CAPS-5, PCL-5, MADRS and
PHQ-9.

Input policy (the same for every instrument):

* An item value must be an integer on the instrument's scale. Anything else is
  rejected with an InputError naming the item and the allowed range; values are never
  clamped. Integral floats (``2.0``, as pandas produces) are accepted; ``2.5`` is not.
* ``None`` or NaN marks a missing item. Without ``prorate=True`` no total is given.
  With it, the total is the person-mean estimate ``sum(answered) * n_items / n_answered``
  rounded half up, only when no more than ``proration.max_missing`` items are missing,
  and the result is marked ``prorated``. Cluster sums are exact or ``None``; they are
  never prorated because a 2-item cluster cannot be estimated from one item.
* Classification rules with missing items are evaluated in the best case (missing =
  scale maximum) and the worst case (missing = scale minimum); a missing item never
  counts as endorsed. When the two disagree the result is ``"indeterminate"``.

Classifications are the strings ``"positive"``, ``"negative"`` or ``"indeterminate"``
(``None`` where the instrument has no such rule). No severity bands are given where none
were published (PCL-5, CAPS-5, IES-R, CADSS).

Modules: :mod:`.specs` (what each instrument is and accepts), :mod:`.items` (item
validation and shared scoring rules), :mod:`.results`, :mod:`.ptsd` (PCL-5, CAPS-5,
IES-R), :mod:`.scorers` (the others, and ``SCORERS`` by id), :mod:`.change` (change from
baseline). Everything public is importable from ``ketamine_ptsd.clinic.instruments``.
"""


from .change import (
    OUTCOME_RULES,
    ChangeResult,
    OutcomeResult,
    assess_change,
    meets_response,
)
from .items import INDETERMINATE, NEGATIVE, POSITIVE
from .ptsd import (
    CAPS5_VERSIONS,
    PCL5_COMBINATIONS,
    score_caps5,
    score_iesr,
    score_pcl5,
)
from .results import (
    BandedResult,
    BPRSPositiveResult,
    CADSSResult,
    CAPS5Result,
    CSSRSResult,
    DAST10Result,
    IESRResult,
    PCL5Result,
    PHQ9Result,
    ScoreResult,
)
from .scorers import (
    SCORERS,
    score_bprs_positive,
    score_cadss,
    score_cssrs,
    score_dast10,
    score_icpi,
    score_icsi,
    score_madrs,
    score_phq9,
)
from .specs import (
    BPRS_CONVENTIONS,
    BPRS_POS,
    CADSS,
    CADSS6_ITEMS,
    CAPS5,
    CSSRS,
    CSSRS_QUESTIONS,
    DAST10,
    DAST10_REVERSED_ITEM,
    ICPI,
    ICSI,
    ICSI_ITEM4_VALUES,
    IESR,
    MADRS,
    PCL5,
    PHQ9,
    PHQ9_DIFFICULTY_LOINC,
    PRORATABLE,
    SPECS,
    InstrumentSpec,
    spec_for,
)

__all__ = [
    "BPRSPositiveResult", "BPRS_CONVENTIONS", "BPRS_POS", "BandedResult", "CADSS", "CADSS6_ITEMS",
    "CADSSResult", "CAPS5", "CAPS5Result", "CAPS5_VERSIONS", "CSSRS", "CSSRSResult", "CSSRS_QUESTIONS",
    "ChangeResult", "DAST10", "DAST10Result", "DAST10_REVERSED_ITEM", "ICPI", "ICSI", "ICSI_ITEM4_VALUES",
    "IESR", "IESRResult", "INDETERMINATE", "InstrumentSpec", "MADRS", "NEGATIVE", "OUTCOME_RULES",
    "OutcomeResult", "PCL5", "PCL5Result", "PCL5_COMBINATIONS", "PHQ9", "PHQ9Result", "PHQ9_DIFFICULTY_LOINC",
    "POSITIVE", "PRORATABLE", "SCORERS", "SPECS", "ScoreResult", "assess_change", "meets_response",
    "score_bprs_positive", "score_cadss", "score_caps5", "score_cssrs", "score_dast10", "score_icpi",
    "score_icsi", "score_iesr", "score_madrs", "score_pcl5", "score_phq9", "spec_for",
]
