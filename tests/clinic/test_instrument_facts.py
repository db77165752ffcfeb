"""What an instrument is and accepts is written once, in its spec
(``ketamine_ptsd.clinic.instruments.specs``), and everything else reads it from there."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from ketamine_ptsd.clinic import instruments as ins
from ketamine_ptsd.clinic.settings import load_settings
from ketamine_ptsd.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "ketamine_ptsd"
OWNER = PACKAGE_DIR / "clinic" / "instruments"
NAMES = set(ins.SPECS) | {a for s in ins.SPECS.values() for a in s.aliases}

# Files that still restate instrument facts, with the reason and what removes them. A file
# that no longer restates one must leave this list.
KNOWN_RESTATEMENTS: dict[str, str] = {}


def restatements(path: Path) -> list[str]:
    """Lines of ``path`` with a literal list of two or more instrument ids (and nothing
    else: a list of model outputs that includes ``madrs`` is not one), or that decide
    proration from a scorer's signature."""
    text = path.read_text(encoding="utf-8")
    found = []
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                strings = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                ids = set(strings) & NAMES
                if len(ids) >= 2 and len(ids) == len(set(strings)):
                    found.append(f"line {node.lineno}: {sorted(ids)}")
        for number, line in enumerate(text.splitlines(), start=1):
            if re.search(r"signature\(\s*SCORERS", line) or re.search(r"\bprorat\w*\s*=\s*[(\[{]", line):
                found.append(f"line {number}: {line.strip()}")
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            ids = {m for m in re.findall(r"[\"']([a-z0-9_+-]+)[\"']", line) if m in NAMES}
            if len(ids) >= 2 or re.search(r"spec\.id\s*==", line):
                found.append(f"line {number}: {line.strip()[:100]}")
    return found


def scanned() -> dict[str, list[str]]:
    files = [p for p in PACKAGE_DIR.rglob("*") if p.suffix in (".py", ".html") and OWNER not in p.parents]
    out = {}
    for path in sorted(files):
        lines = restatements(path)
        if lines:
            out[path.relative_to(PACKAGE_DIR).as_posix()] = lines
    return out


def test_no_module_restates_instrument_ids_or_proration():
    found = scanned()
    new = {k: v for k, v in found.items() if k not in KNOWN_RESTATEMENTS}
    assert not new, f"instrument facts restated outside clinic/instruments (read the specs): {new}"


def test_known_restatements_still_occur():
    stale = sorted(set(KNOWN_RESTATEMENTS) - set(scanned()))
    assert not stale, f"no longer restate instrument facts (remove from the list): {stale}"


def test_the_scan_finds_a_restated_list(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('PRORATES = ("pcl5", "madrs")\nOK = ("pcl5",)\n', encoding="utf-8")
    assert restatements(sample) == ["line 1: ['madrs', 'pcl5']"]


def test_every_instrument_has_a_scorer():
    assert set(ins.SCORERS) == set(ins.SPECS)
    for spec in ins.SPECS.values():
        assert ins.SCORERS[spec.id]([None] * spec.n_items, **_required(spec)).instrument == spec.id


def _required(spec: ins.InstrumentSpec) -> dict:
    return {"convention": next(iter(spec.conventions))} if spec.conventions else {}


@pytest.mark.parametrize("instrument", sorted(ins.SPECS))
def test_prorates_matches_the_scorer(instrument):
    spec = ins.SPECS[instrument]
    takes = "prorate" in inspect.signature(ins.SCORERS[instrument]).parameters
    assert spec.prorates == takes
    # An instrument that prorates has a proration limit in the settings.
    if spec.prorates:
        assert instrument in load_settings()["proration.max_missing"].params


def test_prorated_total_follows_the_spec():
    """A prorating scorer estimates the total with one item missing when its settings allow
    one (PHQ-9 allows none), as the spec and ``proration.max_missing`` say."""
    limits = load_settings()["proration.max_missing"].params
    for spec in ins.SPECS.values():
        if not spec.prorates:
            continue
        items = [spec.scale[0] + 1] * spec.n_items
        items[0] = None
        result = ins.SCORERS[spec.id](items, prorate=True)
        if limits[spec.id] >= 1:
            assert result.prorated and result.total == (spec.scale[0] + 1) * spec.n_items
        else:
            assert not result.prorated and result.total is None


def test_yes_no_and_named_answers():
    yes_no = {s.id for s in ins.SPECS.values() if s.yes_no}
    assert yes_no == {"cssrs", "dast10"}
    assert ins.CSSRS.labels == ins.CSSRS_QUESTIONS and len(ins.CSSRS.questions) == ins.CSSRS.n_items
    assert ins.PCL5.labels[0] == "item 1"
    assert ins.DAST10.options(3) == (0, 1)
    # The published ICSI pain item has no 1 (O'Leary et al. 1997); the spec says so and the scorer obeys.
    assert ins.ICSI.options(4) == (0, 2, 3, 4, 5) and ins.ICSI.options(1) == (0, 1, 2, 3, 4, 5)
    with pytest.raises(InputError, match="item 4"):
        ins.score_icsi([0, 0, 0, 1])


def test_spec_for_reads_ids_and_aliases():
    assert ins.spec_for("PCL-5") is ins.PCL5
    assert ins.spec_for("bprs+") is ins.BPRS_POS
    assert ins.spec_for(" phq9 ") is ins.PHQ9
    with pytest.raises(InputError) as err:
        ins.spec_for("beck")
    assert err.value.field == "instrument" and "pcl5" in err.value.allowed
    aliases = [a for s in ins.SPECS.values() for a in s.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(ins.SPECS)
