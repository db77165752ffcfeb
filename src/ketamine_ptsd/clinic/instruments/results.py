"""The result of scoring an instrument: one class per kind of result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class ScoreResult:
    """Common result of every instrument (instrument-specific fields in subclasses).

    ``flags`` are stable codes for software; ``notes`` explain each flag in words.
    ``thresholds`` maps every settings rule used to its source and evidence tag.
    """

    instrument: str
    name: str
    time_frame: str
    items: tuple[int | None, ...]
    total: int | None
    clusters: Mapping[str, int | None] = field(default_factory=dict)
    provisional_diagnosis: str | None = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    prorated: bool = False
    n_missing: int = 0
    loinc: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_complete(self) -> bool:
        """True when every item was answered."""
        return self.n_missing == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict of every field."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        out["is_complete"] = self.is_complete
        return out


@dataclass(frozen=True, kw_only=True)
class PCL5Result(ScoreResult):
    """PCL-5: both NCPTSD methods and their combination.

    ``dsm5_symptom_rule`` and ``cut_point_result`` are the two methods;
    ``probable_ptsd`` combines them as ``pcl5.combined.method`` says (default: both must
    be positive) and ``provisional_diagnosis`` repeats it; ``methods_agree`` is None
    while either method is indeterminate.
    """

    cut_point: int | float
    cut_point_result: str | None
    dsm5_symptom_rule: str | None
    probable_ptsd: str | None
    methods_agree: bool | None
    combined_method: str


@dataclass(frozen=True, kw_only=True)
class CAPS5Result(ScoreResult):
    """CAPS-5: ``provisional_diagnosis`` combines criteria A, B-E, F and G."""

    version: str
    symptom_rule: str
    criterion_a: bool | None
    criterion_f: bool | None
    criterion_g: str
    impairment_items: tuple[int | None, ...]
    dissociation_items: tuple[int | None, ...]
    dissociation_score: int | None
    dissociative_subtype: str | None


@dataclass(frozen=True, kw_only=True)
class CADSSResult(ScoreResult):
    """CADSS 23-item: total 0-92 and the CADSS-6 short-form sum (items 1,2,6,7,15,22)."""

    cadss6: int | None
    notable: bool


@dataclass(frozen=True, kw_only=True)
class BandedResult(ScoreResult):
    """Instruments with published severity bands (MADRS, PHQ-9, DAST-10)."""

    band: str | None


@dataclass(frozen=True, kw_only=True)
class PHQ9Result(BandedResult):
    """PHQ-9: band, major-depression screen (>= 10), item 9 suicide flag."""

    major_depression_screen: str | None
    item9_flag: bool | None
    difficulty: int | None


@dataclass(frozen=True, kw_only=True)
class IESRResult(ScoreResult):
    """IES-R: sum 0-88 (``total``), subscale means (0-4) and their sum (0-12)."""

    subscale_means: Mapping[str, float | None]
    total_mean: float | None


@dataclass(frozen=True, kw_only=True)
class BPRSPositiveResult(ScoreResult):
    """BPRS positive subscale in the stored convention, plus the 0-6-based total."""

    convention: str
    zero_based_total: int | None


@dataclass(frozen=True, kw_only=True)
class CSSRSResult(ScoreResult):
    """C-SSRS screener: ``risk`` is none/low/moderate/high or indeterminate."""

    risk: str
    skipped: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DAST10Result(BandedResult):
    """DAST-10: score 0-10 (item 3 reversed), band and positive screen (>= 3)."""

    positive_screen: str | None
