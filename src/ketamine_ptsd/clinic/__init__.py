"""Clinic toolkit: scoring, screening, dose plans, session monitoring, long-term risk
and regulatory status for ketamine / esketamine in PTSD care.

Pure logic: no file or network I/O except the settings loader, which reads the packaged
thresholds (``data/settings.toml``) and an optional local override. Every threshold
carries its source and evidence tag (V verified, M background knowledge, U uncertain).

Research and decision-support software, not a medical device: every output supports,
and never replaces, the judgement of a qualified clinician.
"""

NOT_A_MEDICAL_DEVICE = (
    "Research and decision-support software, not a medical device. It does not replace "
    "clinical judgement, the current product labelling or local protocols; every "
    "threshold is configurable and tagged with its evidence grade."
)
