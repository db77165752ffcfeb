"""In a real browser (Debian's chromium) on a tablet-sized screen: a STOP alert is a banner
at the top of the session page, above the fold; a wrong reading is corrected with a reason
and the banner follows; the what-if page starts from the pre-treatment baseline (PCL-5 47
before the first dose, not the 17 since) and shows it. Screenshots for the documentation
are refreshed when KETAMINE_PTSD_UPDATE_DOCS=1."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from ketamine_ptsd.store import Records

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NAME, PASSWORD = "dr_tablet", "tablet-clinician-password"
PATIENT = "Ana \U0001F33B Quintana"  # a sunflower in the name: needs the colour emoji font
TABLET = {"width": 768, "height": 1024}  # an iPad-sized portrait screen, CSS pixels
PRE = [3] * 5 + [3, 3] + [2] * 7 + [2] * 6  # PCL-5 47: B 15, C 6, D 14, E 12
POST = [1] * 17 + [0] * 3  # PCL-5 17


@pytest.fixture(scope="module")
def patient(server):
    """A patient in treatment: PCL-5 47 before the first dose, 17 since; today's session has
    a pre-dose reading and 186/104 at 40 minutes."""
    now = dt.datetime.now(dt.UTC)
    with Records.open(server["db"], actor="e2e-setup") as records:
        records.add_user(NAME, "clinician", PASSWORD)
        p = records.add_patient(name=PATIENT, sex="female", weight_kg=68, birth_date=dt.date(1984, 3, 9))
        records.record_assessment(p.id, "pcl5", PRE, now - dt.timedelta(days=10))
        records.record_session(p.id, started_at=now - dt.timedelta(days=5), dose="0.5mg/kg")
        records.record_assessment(p.id, "pcl5", POST, now - dt.timedelta(days=1))
        session = records.record_session(
            p.id, started_at=now - dt.timedelta(hours=1), dose="0.5mg/kg",
            readings=[{"time_min": -5, "label": "pre_dose", "sbp": 128, "dbp": 80, "hr": 72, "spo2": 98,
                       "cadss": 0, "moaas": 5},
                      {"time_min": 40, "sbp": 186, "dbp": 104, "hr": 96, "spo2": 97, "cadss": 6, "moaas": 5}])
        vitals = records.session_details(session.id)["vitals"]
        reading_id = next(v["id"] for v in vitals if v["minutes"] == 40)
    return {"id": p.id, "session_id": session.id, "reading_id": reading_id}


@pytest.fixture(scope="module")
def page(browser, server, patient):
    context = browser.new_context(base_url=server["url"], viewport=TABLET, device_scale_factor=1)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.set_default_timeout(60_000)
    page.goto("/login")
    page.fill("input[name=name]", NAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/patients")
    yield page
    context.close()


def screenshot(page, name: str, tmp_path: Path, full_page: bool = False) -> Path:
    path = DOCS / name if os.environ.get("KETAMINE_PTSD_UPDATE_DOCS") else tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 20_000
    return path


def above_the_fold(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= TABLET["height"]


def test_the_stop_banner_is_at_the_top_on_a_tablet(page, patient, tmp_path):
    page.goto(f"/sessions/{patient['session_id']}")
    banner = page.locator("#alert-banner")
    assert "STOP" in banner.inner_text() and "minute 40" in banner.inner_text()
    assert banner.evaluate("element => getComputedStyle(element).backgroundColor") == "rgb(178, 24, 43)"
    assert above_the_fold(page, "#alert-banner") and above_the_fold(page, "#alerts-now")
    assert page.locator("#alert-banner").bounding_box()["y"] < page.locator("#reading-form").bounding_box()["y"]
    screenshot(page, "stop-banner-tablet.png", tmp_path)
    page.goto(f"/patients/{patient['id']}")
    assert "STOP" in page.inner_text("#alert-banner") and above_the_fold(page, "#alerts")
    assert "\U0001F33B" in page.inner_text("h1")
    screenshot(page, "patient-page-tablet.png", tmp_path)


def test_a_wrong_reading_is_corrected_and_the_banner_follows(page, patient, tmp_path):
    page.goto(f"/sessions/{patient['session_id']}")
    row = f"#reading-{patient['reading_id']}"
    page.click(f"{row} details.correction summary")
    form = f"{row} form.correction-form"
    page.fill(f"{form} input[name=sbp]", "136")
    page.fill(f"{form} input[name=dbp]", "84")
    page.fill(f"{form} input[name=reason]", "typed 186/104 for 136/84")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(re.compile(rf"/sessions/{patient['session_id']}$"))
    assert "136/84" in page.inner_text("#readings") and "186/104" not in page.inner_text("#readings")
    assert "STOP" not in page.inner_text("#alert-banner")
    screenshot(page, "corrected-reading.png", tmp_path, full_page=True)
    page.goto(f"/patients/{patient['id']}#corrections")
    corrections = page.inner_text("#corrections")
    assert "typed 186/104 for 136/84" in corrections and NAME in corrections and "186" in corrections


def test_the_whatif_page_starts_from_the_pre_treatment_baseline(page, patient, tmp_path):
    page.goto(f"/patients/{patient['id']}/whatif")
    baseline = page.inner_text("#baseline")
    assert "before the first dose" in baseline and "PCL5 47" in baseline
    assert page.input_value("input[name=baseline_pcl5_b]") == "15"
    assert page.input_value("input[name=baseline_pcl5_e]") == "12"
    page.click("#compare")
    page.wait_for_selector("#whatif-chart[data-drawn=true] .main-svg")
    result = page.inner_text("#whatif-result")
    assert "pcl5_b 15" in result and "set here" not in result
    assert "47.0" in page.inner_text("table.whatif-summary")  # the simulated day-0 median
    # The summary table stays inside its card on a tablet (it scrolls there instead).
    card, table = page.locator("#whatif-result").bounding_box(), page.locator("table.whatif-summary")
    assert table.evaluate("t => t.parentElement.scrollWidth >= t.parentElement.clientWidth")
    assert page.locator("#whatif-result .table-wrap").bounding_box()["width"] <= card["width"]
    screenshot(page, "whatif-baseline.png", tmp_path, full_page=True)
    assert not [e for e in page.console_errors if "Content Security Policy" in e or "Refused" in e]
