"""What each instrument is: items, scale, clusters, LOINC codes, source, and what it
accepts (proration, yes/no answers, named questions, per-item options, scoring conventions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ketamine_ptsd.errors import InputError


@dataclass(frozen=True)
class InstrumentSpec:
    """Static description of an instrument: items, scale, clusters, codes, source, and
    what it accepts (the one place front ends, records and exports read these from).

    ``aliases`` are other spellings of ``id`` that users type (``pcl-5``). ``prorates``:
    its scorer can estimate a total with a few items missing (``prorate=True``; how many,
    per instrument, is the setting ``proration.max_missing``). Answers are integers on
    ``scale`` unless ``yes_no`` (yes/no answers, 1/0); ``questions`` names the answers when
    they are not numbered items (C-SSRS ``Q1``...); ``item_options`` lists the values of
    an item whose published form offers fewer than the whole scale; ``conventions`` names
    the alternative scales a total may be stated in (BPRS ``0-6`` / ``1-7``), one of which
    must then be given. ``short_name`` is what messages call it when ``name`` is long.
    """

    id: str
    name: str
    n_items: int
    scale: tuple[int, int]
    source: str
    time_frame: str
    item_numbers: tuple[int, ...] = ()
    clusters: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_items: tuple[str | None, ...] = ()
    aliases: tuple[str, ...] = ()
    prorates: bool = False
    yes_no: bool = False
    questions: tuple[str, ...] = ()
    item_options: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    conventions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    short_name: str = ""

    @property
    def numbers(self) -> tuple[int, ...]:
        """Published item numbers (1..n unless the instrument is a subscale)."""
        return self.item_numbers or tuple(range(1, self.n_items + 1))

    @property
    def max_total(self) -> int:
        """Highest possible total."""
        return self.scale[1] * self.n_items

    @property
    def label(self) -> str:
        """The name used in messages about single answers (``C-SSRS Q3``)."""
        return self.short_name or self.name

    @property
    def labels(self) -> tuple[str, ...]:
        """What each answer is called: the question names, or ``item N``."""
        return self.questions or tuple(f"item {n}" for n in self.numbers)

    def options(self, number: int) -> tuple[int, ...]:
        """The values item ``number`` may take (yes/no answers: 0 and 1)."""
        if self.yes_no:
            return (0, 1)
        lo, hi = self.scale
        return self.item_options.get(number, tuple(range(lo, hi + 1)))


_DSM_CLUSTERS = {
    "B": tuple(range(1, 6)),
    "C": (6, 7),
    "D": tuple(range(8, 15)),
    "E": tuple(range(15, 21)),
}

PCL5 = InstrumentSpec(
    id="pcl5",
    name="PCL-5",
    n_items=20,
    scale=(0, 4),
    source="Weathers, Litz, Keane, Palmieri, Marx & Schnurr 2013 (NCPTSD); Blevins et al. 2015",
    time_frame="past month",
    clusters=_DSM_CLUSTERS,
    loinc_panel="101697-1",
    loinc_total="101698-9",
    # Only item 9 (101699-7) was verified; other item codes must come from loinc.org.
    loinc_items=(None,) * 8 + ("101699-7",) + (None,) * 11,
    aliases=("pcl-5",),
    prorates=True,
)

CAPS5 = InstrumentSpec(
    id="caps5",
    name="CAPS-5",
    n_items=20,
    scale=(0, 4),
    source="Weathers et al. 2013/2015 (NCPTSD); VA CAPS-5 training",
    time_frame="past month",
    clusters=_DSM_CLUSTERS,
    aliases=("caps-5",),
    prorates=True,
)

CADSS = InstrumentSpec(
    id="cadss",
    name="CADSS",
    n_items=23,
    scale=(0, 4),
    source="Bremner et al. 1998; 23 subjective items as in NCT04226963 / Rodrigues et al. 2021",
    time_frame="now ('at this time, in this room')",
    prorates=True,
)
CADSS6_ITEMS = (1, 2, 6, 7, 15, 22)  # Rodrigues et al. 2021 short form

MADRS = InstrumentSpec(
    id="madrs",
    name="MADRS",
    n_items=10,
    scale=(0, 6),
    source="Montgomery & Asberg 1979",
    time_frame="past week",
    prorates=True,
)

PHQ9 = InstrumentSpec(
    id="phq9",
    name="PHQ-9",
    n_items=9,
    scale=(0, 3),
    source="Kroenke, Spitzer & Williams, J Gen Intern Med 2001",
    time_frame="past 2 weeks",
    loinc_panel="44249-1",
    loinc_total="44261-6",
    loinc_items=(
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
        "44258-2", "44252-5", "44253-3", "44260-8",
    ),
    aliases=("phq-9",),
    prorates=True,
)
PHQ9_DIFFICULTY_LOINC = "69722-7"

IESR = InstrumentSpec(
    id="iesr",
    name="IES-R",
    n_items=22,
    scale=(0, 4),
    source="Weiss & Marmar 1997",
    time_frame="past 7 days",
    # Weiss & Marmar 8/8/6 with item 14 in intrusion (CamCOPS puts it in hyperarousal).
    clusters={
        "intrusion": (1, 2, 3, 6, 9, 14, 16, 20),
        "avoidance": (5, 7, 8, 11, 12, 13, 17, 22),
        "hyperarousal": (4, 10, 15, 18, 19, 21),
    },
    aliases=("ies-r",),
    prorates=True,
)

#: The two scales the BPRS is scored on: 0-6 (NCT04226963) and 1-7 (Overall & Gorham).
BPRS_CONVENTIONS = {"0-6": (0, 6), "1-7": (1, 7)}

BPRS_POS = InstrumentSpec(
    id="bprs_pos",
    name="BPRS positive subscale",
    n_items=4,
    scale=(0, 6),
    source="Overall & Gorham 18-item BPRS; positive items 4, 11, 12, 15 as in NCT04226963",
    time_frame="current (pre-dose and ~40 min post-dose)",
    item_numbers=(4, 11, 12, 15),
    aliases=("bprs", "bprs+"),
    conventions=BPRS_CONVENTIONS,
)

CSSRS_QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q6_recent")

CSSRS = InstrumentSpec(
    id="cssrs",
    name="C-SSRS screener",
    n_items=7,
    scale=(0, 1),
    source="Columbia Lighthouse Project, C-SSRS screen version",
    time_frame="past month (Q1-Q5); lifetime and past 3 months (Q6)",
    aliases=("c-ssrs",),
    short_name="C-SSRS",
    yes_no=True,
    questions=CSSRS_QUESTIONS,
)

DAST10 = InstrumentSpec(
    id="dast10",
    name="DAST-10",
    n_items=10,
    scale=(0, 1),
    source="Skinner 1982, DAST-10",
    time_frame="past 12 months",
    aliases=("dast-10",),
    yes_no=True,
)
DAST10_REVERSED_ITEM = 3  # "able to stop?": a "no" scores 1

# The pain item (Q4) offers 0, 2, 3, 4, 5 on the published form (no 1) [M].
ICSI_ITEM4_VALUES = (0, 2, 3, 4, 5)

ICSI = InstrumentSpec(
    id="icsi",
    name="O'Leary-Sant ICSI",
    n_items=4,
    scale=(0, 5),
    source="O'Leary et al., Urology 1997 (interstitial cystitis symptom index)",
    time_frame="past month",
    item_options={4: ICSI_ITEM4_VALUES},
)

ICPI = InstrumentSpec(
    id="icpi",
    name="O'Leary-Sant ICPI",
    n_items=4,
    scale=(0, 4),
    source="O'Leary et al., Urology 1997 (interstitial cystitis problem index)",
    time_frame="past month",
)

SPECS = {s.id: s for s in (PCL5, CAPS5, CADSS, MADRS, PHQ9, IESR, BPRS_POS, CSSRS, DAST10,
                           ICSI, ICPI)}

#: Ids of the instruments whose scorer can prorate a total.
PRORATABLE = tuple(s.id for s in SPECS.values() if s.prorates)
_NAMES = {**{s.id: s.id for s in SPECS.values()}, **{a: s.id for s in SPECS.values() for a in s.aliases}}


def spec_for(name: str) -> InstrumentSpec:
    """The instrument called ``name``: its id or an alias, in any case (``PCL-5``)."""
    key = str(name).strip().lower()
    if key not in _NAMES:
        raise InputError("instrument", f"unknown instrument {name!r}", ", ".join(SPECS))
    return SPECS[_NAMES[key]]
