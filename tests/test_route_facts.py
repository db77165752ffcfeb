"""The routes of administration are named once, by ``ketamine_ptsd.dosing.Route``, and the
routes each clinic product takes once, by ``dosing.PRODUCT_ROUTES``: no other module or
template restates them as a list of names (a literal list, tuple, set, dict keys, a class
of route members, or a template loop over route names)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ketamine_ptsd.dosing import CLINIC_ROUTES, PRODUCT_ROUTES, Protocol, Route, route_list

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "ketamine_ptsd"
ROUTES = {r.value for r in Route}
OWNER = PACKAGE_DIR / "dosing.py"

# Files that still restate routes and may not change here, with the reason. A file that no
# longer restates one must leave this list.
KNOWN_RESTATEMENTS: dict[str, str] = {}


def route_lists(source: str) -> list[str]:
    """Each literal collection (or class body) in ``source`` naming two or more routes."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.ClassDef):
            items = [s.value for s in node.body if isinstance(s, ast.Assign)]
        else:
            continue
        names = [i.value for i in items if isinstance(i, ast.Constant) and i.value in ROUTES]
        if len(names) >= 2:
            found.append(f"line {node.lineno}: {names}")
    return found


def template_route_lists(text: str) -> list[str]:
    """Each bracketed list in a template naming two or more routes."""
    return [m.group(0) for m in re.finditer(r"\[[^\[\]]*\]", text)
            if len(set(re.findall(r"[\"'](\w+)[\"']", m.group(0))) & ROUTES) >= 2]


def test_the_scanner_sees_restated_routes():
    assert route_lists('X = ("iv_infusion", "im")')
    assert route_lists('X = {"iv_infusion": 1, "intranasal": 2}')
    assert route_lists('class R:\n    a = "oral"\n    b = "sublingual"\n')
    assert not route_lists('X = ("iv_infusion",)\nY = route == "im"')
    assert template_route_lists('{% for r in ["iv_infusion", "im"] %}')


def test_no_module_restates_the_route_list():
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if path != OWNER and (hits := route_lists(path.read_text(encoding="utf-8"))):
            found[rel] = hits
    for path in sorted(PACKAGE_DIR.rglob("*.html")):
        if hits := template_route_lists(path.read_text(encoding="utf-8")):
            found[path.relative_to(PACKAGE_DIR).as_posix()] = hits
    new = {k: v for k, v in found.items() if k not in KNOWN_RESTATEMENTS}
    assert not new, f"route names restated outside dosing.Route: {new}"
    gone = set(KNOWN_RESTATEMENTS) - set(found)
    assert not gone, f"no longer restate routes, remove from KNOWN_RESTATEMENTS: {sorted(gone)}"


def test_clinic_routes_are_routes_of_the_model():
    assert set(CLINIC_ROUTES) <= ROUTES
    assert all(set(routes) <= ROUTES for routes in PRODUCT_ROUTES.values())
    assert route_list(["iv_infusion", "im", "intranasal"], " or ") == "iv_infusion, im or intranasal"


def test_protocol_regimen_matches_the_builders_by_hand():
    # Induction on days 0, 2, 4 at 0.5 mg/kg over 40 min, maintenance every 14 days from day
    # 4 + 14 = 18 up to day 46 (18, 32, 46), therapy 24 h after each dose day before day 46.
    p = Protocol((0, 2, 4), 0.5, True, "iv_infusion", "racemic", 40.0, therapy_after_each_dose=True,
                 therapy_hours_after_dose=24.0, maintenance_every_days=14)
    regimen = p.regimen(46)
    assert [d.time_h / 24 for d in regimen.doses] == [0, 2, 4, 18, 32, 46]
    assert all(d.duration_h == 40 / 60 for d in regimen.doses)
    assert [t.time_h / 24 for t in regimen.therapy] == [1, 3, 5, 19, 33]
    # The infusion length is used only by an infusion; explicit therapy days.
    im = Protocol((0, 7), 0.5, True, "im", "racemic", 40.0, therapy_days=(1,)).regimen()
    assert all(d.duration_h is None for d in im.doses)
    assert [t.time_h for t in im.therapy] == [24.0]
