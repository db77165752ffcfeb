"""A calibrated table written by ``calibrate`` reads back as the same table (``validate --params``)."""

from ketamine_ptsd.calibration.fit import write_table
from ketamine_ptsd.cli import main
from ketamine_ptsd.files import read_toml
from ketamine_ptsd.params import model_table


def test_written_table_reads_back_unchanged(tmp_path):
    packaged = model_table()
    changed = packaged.replace(calibrated_to={"labile_tau": "calibrated to a test"}, labile_tau=150.0)
    path = write_table(changed, tmp_path / "model.toml")
    again = model_table(read_toml(path, "--params", "a table"))
    assert again == changed
    assert again.value("labile_tau") == 150.0
    assert again["labile_tau"].calibrated_to == "calibrated to a test"
    assert again["labile_tau"].source == packaged["labile_tau"].source


def test_validate_refuses_an_unreadable_table(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("value = [", encoding="utf-8")
    assert main(["validate", "--params", str(bad), "--docs", ""]) == 2
    assert "--params" in capsys.readouterr().err
