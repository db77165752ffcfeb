"""Changes the pages and the API share: a request model in, the records' call out.

The records check the clinical limits and write the change with its audit entries in one
transaction; these functions only translate the request models.
"""

from __future__ import annotations

from collections.abc import Callable

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import Assessment, DosingSession, User

from .schemas import AssessmentRequest, SessionRequest


def record_assessment(records: Records, patient_id: int, body: AssessmentRequest) -> Assessment:
    """Score and store one assessment (administered now unless the request says when)."""
    options = {} if body.convention is None else {"convention": body.convention}
    when = body.administered_at or records.now()
    return records.record_assessment(patient_id, body.instrument, body.answers, when, prorate=body.prorate,
                                     **options)


def record_session(records: Records, patient_id: int, body: SessionRequest) -> DosingSession:
    """Store a dosing session with the readings and events the request carries.

    Concomitant medications are kept with the session's monitoring form, which exists
    once there is a reading, so they need at least the pre-dose reading.
    """
    if body.concomitant and not body.readings:
        raise InputError("concomitant", "concomitant medications are kept with the monitoring form, which needs a "
                         "reading", "the pre-dose reading together with the concomitant medications")
    data = body.model_dump()
    readings = [{k: v for k, v in r.items() if v is not None} for r in data.pop("readings")]
    events = [(e["kind"], e["detail"]) for e in data.pop("events")]
    return records.record_session(patient_id, readings=readings, events=events, **data)


#: What an admin may change about a user: the records' call for each.
USER_CHANGES: dict[str, Callable[[Records, str, str], User]] = {
    "disable": lambda records, name, _value: records.set_user_disabled(name, True),
    "enable": lambda records, name, _value: records.set_user_disabled(name, False),
    "role": lambda records, name, value: records.set_user_role(name, value),
    "password": lambda records, name, value: records.reset_password(name, value),
}


def change_user(records: Records, sessions, name: str, change: str, value: str = "") -> User:
    """Disable, enable, change the role of or reset the password of a user (audited by the
    records); a disabled user's sessions in this server end at once."""
    user = USER_CHANGES[change](records, name, value)
    if user.disabled:
        sessions.close_user(user.id)
    return user
