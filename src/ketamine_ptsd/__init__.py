"""ketamine-ptsd: a literature-calibrated digital twin of ketamine therapy for PTSD,
and a clinic toolkit on the same model.

Research and decision-support software, not a medical device.
"""

__version__ = "0.1.0"

from .dosing import (  # noqa: E402
    Dose,
    Product,
    Regimen,
    Route,
    TherapySession,
    induction_series,
    single_dose,
    with_maintenance,
    with_therapy,
)
from .engine import NumbaEngine, ScipyEngine  # noqa: E402
from .population import Population  # noqa: E402
from .simulation import simulate  # noqa: E402
from .trajectory import Trajectory  # noqa: E402

__all__ = [
    "Dose", "Product", "Regimen", "Route", "TherapySession", "induction_series", "single_dose",
    "with_maintenance", "with_therapy", "NumbaEngine", "ScipyEngine", "Population", "simulate",
    "Trajectory", "__version__",
]
