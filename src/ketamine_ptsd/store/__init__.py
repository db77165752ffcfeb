"""The clinic records: patients, screenings, courses, sessions, assessments, forecasts,
users and the audit trail, in SQLite (default) or PostgreSQL.

>>> from ketamine_ptsd.store import Records
>>> records = Records.open("sqlite:///clinic.sqlite", actor="dr_lee")   # doctest: +SKIP
>>> patient = records.add_patient(name="A. Patient", sex="female", weight_kg=70)  # doctest: +SKIP

Research and decision-support software, not a medical device.
"""

from .backups import backup, restore
from .database import connect, default_url, resolve_url
from .migrate import current_revision, downgrade, ensure_current, head_revision, upgrade
from .records import SESSION_EVENT_KINDS, Records, default_actor

__all__ = [
    "Records", "SESSION_EVENT_KINDS", "backup", "connect", "current_revision", "default_actor", "default_url",
    "downgrade", "ensure_current", "head_revision", "resolve_url", "restore", "upgrade",
]
