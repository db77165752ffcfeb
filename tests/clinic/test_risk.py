"""Long-term risk: exposure, frequency, bladder screens, misuse and tolerance signals."""

import datetime as dt

import pytest

from ketamine_ptsd.clinic.risk import assess_course
from ketamine_ptsd.errors import InputError


def day(n):
    return (dt.date(2025, 1, 1) + dt.timedelta(days=n)).isoformat()


def sessions(days, product="racemic", dose_mg=40, weight_kg=80, cadss=None):
    return [{"date": day(d), "product": product, "dose_mg": dose_mg, "weight_kg": weight_kg,
             "cadss_peak": cadss} for d in days]


def codes(report):
    return [f.code for f in report.flags]


def severity(report, code):
    return next(f.severity for f in report.flags if f.code == code)


BASELINE_SCREEN = [{"date": day(0), "icsi": [0, 0, 0, 0], "icpi": [0, 0, 0, 0]}]


class TestExposure:
    def test_cumulative(self):
        # 3 x 40 mg + 56 mg = 176 mg; 3 x 0.5 + 0.7 = 2.2 mg/kg
        course = sessions([0, 2, 4]) + sessions([7], dose_mg=56)
        r = assess_course(course, bladder=BASELINE_SCREEN)
        assert r.cumulative_mg == 176
        assert r.cumulative_mg_per_kg == pytest.approx(2.2)
        assert r.n_sessions == 4
        assert (r.first_date, r.last_date) == (dt.date(2025, 1, 1), dt.date(2025, 1, 8))

    def test_per_kg_unknown_if_a_weight_is_missing(self):
        course = sessions([0]) + sessions([3], weight_kg=None)
        assert assess_course(course).cumulative_mg_per_kg is None

    @pytest.mark.parametrize("product, days, flagged", [
        ("racemic", [0, 2, 4], False), ("racemic", [0, 1, 2, 3], True),
        ("esketamine", [0, 3, 7], False),  # day 0 and day 7 are a week apart
        ("esketamine", [0, 3, 6], True),
    ])
    def test_frequency(self, product, days, flagged):
        r = assess_course(sessions(days, product=product, dose_mg=56))
        assert ("frequency_above_induction" in codes(r)) is flagged

    def test_cumulative_info_threshold(self):
        weekly = list(range(0, 7 * 100, 7))
        assert "cumulative_dose" in codes(assess_course(sessions(weekly, dose_mg=100)))
        below = sessions(weekly[:-1], dose_mg=100) + sessions([700], dose_mg=99)
        assert "cumulative_dose" not in codes(assess_course(below))
        assert severity(assess_course(sessions(weekly, dose_mg=100)), "cumulative_dose") == "note"


class TestTolerance:
    def test_rising_dose_falling_cadss(self):
        # 0.5 -> 0.6 mg/kg (+20 %) and peak CADSS 10 -> 9
        course = sessions([0], cadss=10) + sessions([7], dose_mg=48, cadss=9)
        r = assess_course(course)
        assert "possible_tolerance" in codes(r)
        assert severity(r, "possible_tolerance") == "review"

    @pytest.mark.parametrize("dose, cadss", [(47, 5), (48, 10), (40, 2)])
    def test_not_flagged(self, dose, cadss):
        # +17.5 %; no CADSS drop; same dose (attenuation with repeated dosing is expected)
        course = sessions([0], cadss=10) + sessions([7], dose_mg=dose, cadss=cadss)
        assert "possible_tolerance" not in codes(assess_course(course))


class TestBladder:
    def test_new_symptom_is_review(self):
        screens = BASELINE_SCREEN + [{"date": day(14), "icsi": [1, 1, 0, 0],
                                      "haematuria": True}]
        r = assess_course(sessions([0, 7, 14]), bladder=screens)
        assert severity(r, "new_urinary_symptom") == "review"
        assert r.bladder[1].icsi == 2
        assert r.bladder[1].symptoms == ("haematuria",)

    def test_baseline_symptom_is_note_not_new(self):
        screens = [{"date": day(0), "urgency": True}, {"date": day(14), "urgency": True}]
        r = assess_course(sessions([0, 7, 14]), bladder=screens)
        assert "new_urinary_symptom" not in codes(r)
        assert severity(r, "urinary_symptoms_at_baseline") == "note"

    def test_icsi_high(self):
        low = [{"date": day(0), "icsi": [3, 3, 3, 2]}]  # 11
        high = [{"date": day(0), "icsi": [3, 3, 3, 3]}]  # 12
        assert "icsi_high" not in codes(assess_course(sessions([0]), bladder=low))
        assert "icsi_high" in codes(assess_course(sessions([0]), bladder=high))

    @pytest.mark.parametrize("n_sessions, due", [(5, False), (6, True)])
    def test_screen_due_by_sessions(self, n_sessions, due):
        course = sessions([3 * i + 1 for i in range(n_sessions)])
        r = assess_course(course, bladder=BASELINE_SCREEN)
        assert ("bladder_screen_due" in codes(r)) is due

    @pytest.mark.parametrize("as_of, due", [(31, False), (32, True)])
    def test_screen_due_by_days(self, as_of, due):
        r = assess_course(sessions([1]), bladder=BASELINE_SCREEN, as_of=day(as_of))
        assert ("bladder_screen_due" in codes(r)) is due

    def test_no_screen_at_all(self):
        assert "bladder_screen_due" in codes(assess_course(sessions([0])))

    def test_bad_bladder_input(self):
        with pytest.raises(InputError, match="ICSI item 4"):
            assess_course(sessions([0]), bladder=[{"date": day(0), "icsi": [0, 0, 0, 1]}])
        with pytest.raises(InputError) as err:
            assess_course(sessions([0]), bladder=[{"date": day(0), "dysuria": "yes"}])
        assert err.value.field == "bladder[0].dysuria"


class TestMisuse:
    def test_one_request_is_a_note_two_a_review(self):
        one = [{"date": day(3), "kind": "early_visit_request"}]
        two = one + [{"date": day(5), "kind": "dose_increase_request"}]
        assert severity(assess_course(sessions([0]), events=one), "escalation_requests") == "note"
        assert severity(assess_course(sessions([0]), events=two),
                        "escalation_requests") == "review"

    @pytest.mark.parametrize("kind", ["non_prescribed_use", "diversion_concern"])
    def test_serious_signals(self, kind):
        r = assess_course(sessions([0]), events=[{"date": day(2), "kind": kind}])
        assert severity(r, kind) == "review"
        assert r.event_counts[kind] == 1

    def test_dast10(self):
        # yes to items 1 and 2, "no" to item 3 (able to stop?) -> 3 points
        r = assess_course(sessions([0]), dast10=[1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        assert r.dast10_total == 3
        assert severity(r, "dast10_positive") == "review"
        assert "dast10_positive" not in codes(
            assess_course(sessions([0]), dast10=[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]))

    def test_unknown_event(self):
        with pytest.raises(InputError) as err:
            assess_course(sessions([0]), events=[{"date": day(1), "kind": "asked nicely"}])
        assert err.value.field == "events[0].kind"


@pytest.mark.parametrize("change, field", [
    ({"product": "oral"}, "sessions[0].product"), ({"dose_mg": 0}, "sessions[0].dose_mg"),
    ({"weight_kg": 10}, "sessions[0].weight_kg"), ({"cadss_peak": 100}, "sessions[0].cadss_peak"),
    ({"date": "13/01/2025"}, "sessions[0].date"),
])
def test_bad_sessions(change, field):
    with pytest.raises(InputError) as err:
        assess_course([{**sessions([0])[0], **change}])
    assert err.value.field == field


def test_report_is_json_ready_and_ordered():
    import json

    course = sessions([0, 1, 2, 3])
    r = assess_course(course, events=[{"date": day(1), "kind": "early_visit_request"}])
    data = json.loads(json.dumps(r.to_dict()))
    assert data["highest_severity"] == "review"
    assert [f["severity"] for f in data["flags"]] == sorted(
        (f["severity"] for f in data["flags"]), key=["review", "note"].index)
