"""Smaller things a clinician meets: an empty chart says so instead of drawing a
year-2000 axis, an error page keeps the navigation bar, the what-if tables scroll inside
their card, and names with emoji name a colour emoji font."""

from __future__ import annotations

from pathlib import Path

from ketamine_ptsd import web

from .conftest import new_patient


def test_a_patient_without_scores_shows_no_scores_yet(clinician):
    patient_id = new_patient(clinician)
    page = clinician.get(f"/patients/{patient_id}").text
    assert 'id="no-scores"' in page and "No scores yet" in page
    assert 'id="course-chart-data"' not in page
    clinician.post(f"/api/patients/{patient_id}/assessments", json={"instrument": "pcl5", "answers": [1] * 20})
    page = clinician.get(f"/patients/{patient_id}").text
    assert 'id="course-chart-data"' in page and "No scores yet" not in page


def test_a_404_page_keeps_the_navigation(clinician):
    page = clinician.get("/patients/987654")
    assert page.status_code == 404
    assert '<a href="/patients">Patients</a>' in page.text and "Sign out" in page.text
    nowhere = clinician.get("/no/such/page")
    assert nowhere.status_code == 404 and "Sign out" in nowhere.text


def test_the_whatif_tables_scroll_inside_their_card(clinician):
    patient_id = new_patient(clinician)
    page = clinician.get(f"/patients/{patient_id}/whatif").text
    assert '<div class="table-wrap">\n  <table class="list protocols">' in page
    css = (Path(web.__file__).parent / "static" / "app.css").read_text()
    assert ".table-wrap { overflow-x: auto; max-width: 100%; }" in css


def test_the_stylesheet_names_a_colour_emoji_font():
    css = (Path(web.__file__).parent / "static" / "app.css").read_text()
    body = next(line for line in css.splitlines() if line.startswith("body {"))
    assert '"Noto Color Emoji"' in body
