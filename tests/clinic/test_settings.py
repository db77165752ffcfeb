"""The settings file: provenance on every rule, and safe local overrides."""

import tomllib
from importlib import resources

import pytest

from ketamine_ptsd.clinic.settings import TAGS, Settings, default_settings, load_settings, resolve
from ketamine_ptsd.errors import InputError


def test_every_rule_has_source_and_tag():
    s = default_settings()
    assert len(s.keys()) > 80
    for key in s:
        rule = s[key]
        assert rule.source.strip(), key
        assert rule.tag in TAGS, key
        assert rule.params or key.startswith(("monitoring.", "risk.")), key


def test_no_number_outside_a_rule():
    """Any table holding values must be a rule (so no threshold escapes provenance)."""
    text = resources.files("ketamine_ptsd.clinic").joinpath("data/settings.toml").read_text()

    def walk(tree, path):
        has_values = any(not isinstance(v, dict) for v in tree.values())
        if has_values:
            assert "source" in tree and "tag" in tree, path
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(v, f"{path}.{k}")

    walk(tomllib.loads(text), "")


def test_uncertain_thresholds_are_tagged_u():
    s = default_settings()
    assert s["monitoring.pre_dose_hold"].tag == "U"
    assert s["monitoring.pause_stop"].tag == "U"
    assert s["monitoring.spo2_low"].tag == "U"
    assert s["monitoring.pre_dose_review"].tag == "V"


def test_nested_and_dotted_override():
    s = load_settings({"pcl5": {"cut_point": {"at_or_above": 31}},
                       "monitoring.pause_stop.hr_above": 120})
    assert s["pcl5.cut_point"]["at_or_above"] == 31
    assert s["monitoring.pause_stop"]["hr_above"] == 120
    assert s["monitoring.pause_stop"]["sbp_above"] == 180
    assert set(s.overridden_keys) == {"pcl5.cut_point", "monitoring.pause_stop"}
    assert "overridden locally" in s["pcl5.cut_point"].citation
    assert default_settings()["pcl5.cut_point"]["at_or_above"] == 33


def test_override_file(tmp_path):
    path = tmp_path / "local.toml"
    path.write_text('[monitoring.spo2_low]\nbelow = 90\nsource = "Local policy 2025"\n')
    s = load_settings(path)
    assert s["monitoring.spo2_low"]["below"] == 90
    assert s["monitoring.spo2_low"].source == "Local policy 2025"


@pytest.mark.parametrize("override, field, allowed", [
    ({"pcl5.cutpoint.at_or_above": 31}, "settings pcl5.cutpoint.at_or_above", "e.g."),
    ({"pcl5.cut_point.above": 31}, "settings pcl5.cut_point.above", "at_or_above"),
    ({"pcl5.cut_point.at_or_above": "31"}, "settings pcl5.cut_point.at_or_above", "number"),
    ({"pcl5.cut_point.at_or_above": True}, "settings pcl5.cut_point.at_or_above", "number"),
    ({"pcl5.cut_point.tag": "X"}, "settings pcl5.cut_point.tag", "V, M or U"),
    ({"monitoring.pause_stop.severity": "stopp"}, "settings monitoring.pause_stop.severity",
     "hard_stop"),
    ({"madrs.bands.upper": ["a"]}, "settings madrs.bands.upper", "list of a numbers"),
])
def test_bad_override_names_key(override, field, allowed):
    with pytest.raises(InputError) as err:
        load_settings(override)
    assert err.value.field == field
    assert allowed in str(err.value)


def test_bad_override_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[pcl5\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_settings(bad)


def test_resolve_and_export():
    s = default_settings()
    assert resolve(s) is s
    assert isinstance(resolve(None), Settings)
    exported = s.to_dict()
    assert exported["pcl5.cut_point"]["at_or_above"] == 33
    assert exported["pcl5.cut_point"]["tag"] == "V"
    assert set(s.children("screening.interactions")) >= {"maoi", "psychostimulant"}
