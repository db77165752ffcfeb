"""What-if baseline: the virtual patients start from this patient's scores *before the first
dose* (the latest pre-treatment assessment of each instrument), not from scores taken during
treatment and not from the earliest assessment on file; the summary reads the curves at the
right days (baseline = day 0, a week after the last induction dose, the horizon)."""

from __future__ import annotations

import pytest

from .conftest import ago, new_patient


def pcl5(b: int, c: int, d: int, e: int) -> list[int]:
    """PCL-5 answers with every item of a cluster equal (clusters: 5, 2, 7 and 6 items)."""
    return [b] * 5 + [c] * 2 + [d] * 7 + [e] * 6


@pytest.mark.xfail(strict=True, reason="issue 14 item 8: what-if must start from the pre-treatment baseline")
def test_whatif_starts_from_the_latest_scores_before_the_first_dose(clinician):
    patient_id = new_patient(clinician, weight_kg=70.0)

    def assess(instrument, answers, days_ago):
        response = clinician.post(f"/api/patients/{patient_id}/assessments",
                                  json={"instrument": instrument, "answers": answers,
                                        "administered_at": ago(days=days_ago)})
        assert response.status_code == 201, response.text

    assess("pcl5", pcl5(1, 1, 1, 1), 20)        # earliest on file: total 20
    assess("madrs", [2] * 10, 20)
    assess("pcl5", pcl5(3, 2, 2, 2), 10)        # latest before the first dose: B 15, C 4, D 14, E 12 = 45
    assess("madrs", [3] * 10, 10)               # 30
    first = clinician.post(f"/api/patients/{patient_id}/sessions", json={"started_at": ago(days=8), "dose": "0.5mg/kg"})
    assert first.status_code == 201, first.text
    assess("pcl5", pcl5(1, 0, 0, 0), 1)         # during treatment: total 5
    assess("madrs", [1] * 10, 1)

    body = {"horizon_days": 28, "protocols": [{"name": "six", "induction_days": [0, 2, 4, 7, 9, 11]}]}
    response = clinician.post(f"/api/patients/{patient_id}/whatif", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    covariates = result["covariates"]
    assert {k: covariates[k] for k in ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "madrs")} == {
        "pcl5_b": 15.0, "pcl5_c": 4.0, "pcl5_d": 14.0, "pcl5_e": 12.0, "madrs": 30.0}
    outcome = result["protocols"][0]
    summary, median, days = outcome["summary"], outcome["pcl5_median"], outcome["days"]
    # Every virtual patient shares the baseline clusters, so the day-0 median is their sum.
    assert summary["pcl5_baseline"] == pytest.approx(45.0, abs=0.05)
    assert summary["pcl5_week_after_induction"] == pytest.approx(median[days.index(18.0)], abs=0.06)
    assert summary["pcl5_at_horizon"] == pytest.approx(median[days.index(28.0)], abs=0.06)
    assert summary["pcl5_week_after_induction"] < summary["pcl5_baseline"]
