"""Literature targets: validation, calibration and individual fits."""
