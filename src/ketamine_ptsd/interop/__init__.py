"""Interoperability, one module per standard: ``sbml`` (the model for systems-biology tools),
``fhir`` (instrument responses and vitals as FHIR R4B resources) and ``nonmem`` (a course as
NONMEM-style CSV for pharmacometricians)."""
