"""Regulatory status per product and indication, and informed-consent summaries.

The dated table lives in ``clinic/data/regulatory.toml`` with a source and evidence tag
per row. :func:`consent_summary` turns it into a plain-language summary for a product
and route: regulatory (off-label) status, what the evidence shows, the risks with their
sources, the monitoring plan, alternatives, and the not-a-medical-device notice. It
supports the consent conversation; it is not the consent form.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ketamine_ptsd import dosing
from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.settings import packaged_table
from ketamine_ptsd.dosing import Route
from ketamine_ptsd.errors import InputError

#: The clinic's products (:data:`ketamine_ptsd.dosing.PRODUCT_ROUTES`) and compounded ketamine.
PRODUCT_ROUTES = {
    **dosing.PRODUCT_ROUTES,
    "compounded": (Route.ORAL.value, Route.SUBLINGUAL.value, Route.INTRANASAL.value),
}
PRODUCT_NAMES = {
    "racemic": "racemic ketamine (Ketalar and generics)",
    "esketamine": "esketamine nasal spray (SPRAVATO)",
    "compounded": "compounded ketamine (oral, sublingual or nasal)",
}
ROUTE_NAMES = {Route.IV_INFUSION.value: "intravenous infusion", Route.IM.value: "intramuscular injection",
               Route.INTRANASAL.value: "nasal spray", Route.ORAL.value: "by mouth",
               Route.SUBLINGUAL.value: "under the tongue"}


# An expiry this close (days) or closer is flagged in capitals.
EXPIRY_WARNING_DAYS = 90


@dataclass(frozen=True)
class RegulatoryEntry:
    """One dated regulatory fact for a product (or ``all``), route(s), indication and
    jurisdiction; ``expires`` (ISO date or "") marks a time-limited status and ``expiry``
    says where it stands on the day the table was read."""

    product: str
    routes: tuple[str, ...]
    indication: str
    jurisdiction: str
    status: str
    date: str
    detail: str
    source: str
    tag: str
    expires: str = ""
    expiry: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"product": self.product, "routes": list(self.routes),
                "indication": self.indication, "jurisdiction": self.jurisdiction,
                "status": self.status, "date": self.date, "expires": self.expires or None,
                "expiry": self.expiry or None, "detail": self.detail,
                "source": self.source, "tag": self.tag}


def expiry_flag(expires: str, today: dt.date) -> str:
    """Where a time-limited status stands on ``today``: expired, expiring soon or not."""
    if not expires:
        return ""
    end = dt.date.fromisoformat(expires)
    days = (end - today).days
    if days < 0:
        return f"EXPIRED on {expires}: check whether it was extended or replaced"
    if days <= EXPIRY_WARNING_DAYS:
        return f"EXPIRES {expires} (in {days} days): check for an extension or a final rule"
    return f"expires {expires}"


def _check_product(product: str) -> None:
    if product not in PRODUCT_ROUTES:
        raise InputError("product", f"unknown product {product!r}", ", ".join(PRODUCT_ROUTES))


def as_of() -> str:
    """The date (ISO) the table was last reviewed."""
    return str(packaged_table("regulatory")["as_of"])


def review_note() -> str:
    """What the latest review included and what to re-check."""
    return str(packaged_table("regulatory")["review_note"])


def regulatory_status(product: str | None = None, today: dt.date | None = None
                      ) -> tuple[RegulatoryEntry, ...]:
    """The dated status rows, optionally for one product (racemic, esketamine, compounded;
    rows for ``all`` products are included). Expiries are judged on ``today`` (default:
    the current date)."""
    if product is not None:
        _check_product(product)
    day = today or dt.date.today()
    return tuple(
        RegulatoryEntry(row["product"], tuple(row["routes"]), row["indication"],
                        row["jurisdiction"], row["status"], row["date"], row["detail"],
                        row["source"], row["tag"], row.get("expires", ""),
                        expiry_flag(row.get("expires", ""), day))
        for row in packaged_table("regulatory")["status"]
        if product is None or row["product"] in (product, "all")
    )


def regulatory_context() -> tuple[dict[str, str], ...]:
    """Context rows: approved PTSD medicines, MDMA status, VA/DoD guideline."""
    return tuple(dict(row) for row in packaged_table("regulatory")["context"])


def consent_summary(product: str, route: str) -> str:
    """Plain-language informed-consent summary for ``product`` given by ``route``.

    States the regulatory status for PTSD (off-label or not approved), the evidence,
    every listed risk with its source and tag, the monitoring plan, alternatives and the
    not-a-medical-device notice. Raises InputError for an unknown product or a route the
    product is not given by.
    """
    _check_product(product)
    if route not in PRODUCT_ROUTES[product]:
        raise InputError("route", f"{route!r} is not a route for {product}",
                         ", ".join(PRODUCT_ROUTES[product]))
    data = packaged_table("regulatory")
    rows = [r for r in regulatory_status(product) if route in r.routes or r.jurisdiction != "US"]
    ptsd = next((r for r in rows if r.indication == "PTSD"), None)
    lines = [f"INFORMED-CONSENT SUMMARY: {PRODUCT_NAMES[product]}, {ROUTE_NAMES[route]}",
             f"Regulatory information as of {data['as_of']}; re-check before use.", "",
             "1. Regulatory status"]
    if ptsd is not None:
        lines.append(f"   - PTSD: {ptsd.status.upper()} in the US. {ptsd.detail}. "
                     f"[{ptsd.source}; {ptsd.tag}]")
    elif product == "compounded":
        lines.append("   - PTSD: NOT APPROVED. Compounded ketamine is not FDA-approved for any "
                     "use and has no approved dosing regimen.")
    for r in rows:
        if r.indication != "PTSD":
            date = f" ({r.date})" if r.date else ""
            expiry = f" {r.expiry}." if r.expiry else ""
            lines.append(f"   - {r.jurisdiction}, {r.indication}: {r.status}{date}. {r.detail}."
                         f"{expiry} [{r.source}; {r.tag}]")
    lines += ["", "2. What the evidence shows"]
    lines += [f"   - {e['text']} [{e['source']}; {e['tag']}]" for e in data["evidence"]
              if product in e["products"]]
    lines += ["", "3. Risks"]
    lines += [f"   - {r['text']} [{r['source']}; {r['tag']}]" for r in data["risk"]
              if product in r["products"]]
    lines += ["", "4. Monitoring and after the session", _monitoring_text(product), "",
              "5. Alternatives and context"]
    lines += [f"   - {c['topic']} ({c['date']}): {c['text']} [{c['source']}; {c['tag']}]"
              for c in data["context"]]
    lines += ["", "6. Your choices",
              "   - Taking part is voluntary; you can stop at any time without losing other care.",
              "   - Ask about anything that is unclear before you agree.", "",
              NOT_A_MEDICAL_DEVICE]
    return "\n".join(lines) + "\n"


def _monitoring_text(product: str) -> str:
    if product == "esketamine":
        return ("   - In a certified setting: blood pressure before dosing, at about 40 minutes "
                "and until it settles; pulse oximetry; observation for at least 2 hours and "
                "until sedation, dissociation and breathing effects have resolved (REMS). "
                "[SPRAVATO PI; REMS; V]")
    if product == "racemic":
        return ("   - Blood pressure, heart rate and pulse oximetry before, during and after "
                "the dose, with staff able to manage airway and cardiovascular events; "
                "observation after the dose until you are back to your usual state (this "
                "clinic: at least 60 minutes after the end). [Sanacora et al. 2017; ASKP3; M]")
    return ("   - Compounded products are often taken at home without monitoring; the FDA "
            "warns that this adds risk. A monitored setting is strongly preferred. "
            "[FDA alert 10 Oct 2023; V]")
