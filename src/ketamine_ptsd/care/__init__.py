"""Use cases that join a patient's record with the model or with a record format: the
front ends (command line, web app) call these and only parse their input and show the
result.

:mod:`.exports`: a patient's records as a FHIR R4 bundle or NONMEM-style CSV;
:mod:`.course`: the current course against its plan, and its long-term risk;
:mod:`.forecast`: a patient's personal forecast and next-session plan, from the current course;
:mod:`.inputs`: a patient's record as the model's covariates (the pre-treatment baseline);
:mod:`.whatif`: protocols compared on the model for one patient.
"""
