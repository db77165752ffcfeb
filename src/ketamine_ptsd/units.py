"""Units and conversions used across the model.

Molar masses (g/mol) are those of the free bases; 1 µM of a species equals
``molar_mass`` ng/mL.
"""

from __future__ import annotations

import re

from .errors import InputError

#: Ketamine free base C13H16ClNO (pharmacology reference §1.1; Kamp 2020 digitisation used 237.73).
KETAMINE_G_PER_MOL = 237.725
#: Norketamine C12H14ClNO (same source as the Kamp 2020 digitised points).
NORKETAMINE_G_PER_MOL = 223.70


_DOSE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(mg/kg|mg)\s*$")


def parse_dose(text: str, field: str = "dose") -> tuple[float, bool]:
    """Parse ``"0.5mg/kg"`` or ``"56mg"``.

    Returns ``(amount, per_kg)``: the number and whether it is per kg of body weight.
    """
    match = _DOSE_RE.match(str(text))
    if not match:
        raise InputError(field, f"cannot read dose {text!r}",
                         "a positive number followed by mg/kg or mg, e.g. 0.5mg/kg or 56mg")
    amount = float(match.group(1))
    if not amount > 0:
        raise InputError(field, f"dose must be positive, got {amount}", "> 0")
    return amount, match.group(2) == "mg/kg"
