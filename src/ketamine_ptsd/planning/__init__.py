"""Maintenance planning: a personal planner on a patient's forecast (:mod:`.patient`), a
search over schedules on a virtual population (:mod:`.search`) and strategies compared on
virtual patients observed with instrument noise (:mod:`.strategies`). Decision support, not
a prescription; see docs/planning.md."""
