"""The what-if comparison starts from the patient's scores before the first dose (not the
latest, which show the treatment), shows that baseline, and lets the clinician change it."""

from __future__ import annotations

import html

import pytest

from .conftest import ago, new_patient

PRE = [3] * 5 + [3, 3] + [2] * 7 + [2] * 6  # total 47: B 15, C 6, D 14, E 12
POST = [1] * 17 + [0] * 3  # total 17


@pytest.fixture(scope="module")
def treated(clinician):
    """A patient with PCL-5 47 before the first dose and 17 after it."""
    patient_id = new_patient(clinician)
    url = f"/api/patients/{patient_id}"
    before = {"instrument": "pcl5", "answers": PRE, "administered_at": ago(days=10)}
    assert clinician.post(f"{url}/assessments", json=before).status_code == 201
    assert clinician.post(f"{url}/sessions", json={"started_at": ago(days=5), "dose": "0.5mg/kg"}).status_code == 201
    after = {"instrument": "pcl5", "answers": POST, "administered_at": ago(days=1)}
    assert clinician.post(f"{url}/assessments", json=after).status_code == 201
    return patient_id


def compare(client, patient_id, **extra):
    response = client.post(f"/api/patients/{patient_id}/whatif",
                           json={"protocols": [{"name": "Feder"}], "horizon_days": 28, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_baseline_is_the_scores_before_the_first_dose(clients, treated):
    result = compare(clients["readonly"], treated)
    assert {k: result["covariates"][k] for k in ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e")} == {
        "pcl5_b": 15.0, "pcl5_c": 6.0, "pcl5_d": 14.0, "pcl5_e": 12.0}
    assert result["baseline"]["sources"]["pcl5"]["total"] == 47
    assert result["baseline"]["changed_by_clinician"] == []
    # Sending the recorded baseline back (as the page does) changes nothing.
    same = compare(clients["readonly"], treated, baseline={"pcl5_b": 15, "pcl5_c": 6, "pcl5_d": 14, "pcl5_e": 12})
    assert same["baseline"]["changed_by_clinician"] == [] and same["covariates"] == result["covariates"]
    # The simulated day-0 median is that of patients starting near 47, far from the post-treatment 17.
    assert result["protocols"][0]["summary"]["pcl5_baseline"] > 35


def test_the_clinician_changes_the_baseline(clients, treated):
    result = compare(clients["readonly"], treated, baseline={"pcl5_b": 5, "pcl5_c": 2, "pcl5_d": 6, "pcl5_e": 4})
    assert result["covariates"]["pcl5_b"] == 5.0 and result["baseline"]["changed_by_clinician"] == [
        "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e"]
    assert result["protocols"][0]["summary"]["pcl5_baseline"] < 25
    refused = clients["readonly"].post(f"/api/patients/{treated}/whatif",
                                       json={"protocols": [{}], "baseline": {"pcl5_c": 9}})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "pcl5_c"


def test_the_page_shows_the_pre_treatment_baseline_and_keeps_a_changed_one(clients, treated):
    page = html.unescape(clients["readonly"].get(f"/patients/{treated}/whatif").text)
    assert "before the first dose" in page and "PCL5 47" in page
    assert 'name="baseline_pcl5_b" type="text" inputmode="decimal" size="4" value="15"' in page
    form = {"p0_days": "0,2,4", "horizon_days": "14", "baseline_pcl5_b": "10", "baseline_pcl5_c": "4",
            "baseline_pcl5_d": "10", "baseline_pcl5_e": "8"}
    result = html.unescape(clients["readonly"].post(f"/patients/{treated}/whatif", data=form).text)
    assert "set here: pcl5_b, pcl5_c, pcl5_d, pcl5_e" in result
    assert 'name="baseline_pcl5_b" type="text" inputmode="decimal" size="4" value="10"' in result


def pcl5(b: int, c: int, d: int, e: int) -> list[int]:
    """PCL-5 answers with every item of a cluster equal (clusters: 5, 2, 7 and 6 items)."""
    return [b] * 5 + [c] * 2 + [d] * 7 + [e] * 6


def test_whatif_starts_from_the_latest_scores_before_the_first_dose(clinician):
    """The latest pre-treatment assessment of each instrument, not the earliest on file and not
    one taken during treatment; the summary reads the curves at the right days."""
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
