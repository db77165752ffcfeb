"""The HTML report of a virtual trial: mean trajectories with bands per arm, responder and
remission bars, Kaplan-Meier curves of the time to loss of response, and the breakdown by
DSM-5 cluster and subgroup."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._version import __version__  # noqa: E402
from ..trials import CLUSTERS, TrialResult, day_key, loss_of_response  # noqa: E402

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ketamine_ptsd.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)
#: z of a two-sided 95 % interval, for the error bars of the rates.
Z95 = 1.959964


def _png(fig) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def trajectory_figure(result: TrialResult) -> str:
    """Mean observed score per arm over the assessment days with the interquartile band, one
    panel per total score (the response instrument over its whole follow-up). PNG, base64."""
    spec = result.spec
    totals = [i for i in spec.visits.instruments if i not in CLUSTERS]
    fig, axes = plt.subplots(1, len(totals), figsize=(5.5 * len(totals), 3.8), squeeze=False)
    for ax, inst in zip(axes[0], totals):
        for name, data in zip(spec.arm_names, result.arms):
            if inst == spec.response.instrument:
                days, values = spec.assessment_days(), data.course
            else:
                days, values = np.asarray(spec.visits.days, float), data.visits[:, :, result.column(inst)]
            # Columns nobody was assessed at (everyone dropped out) are left out, not warned about.
            seen = ~np.all(np.isnan(values), axis=0)
            days, values = days[seen], values[:, seen]
            mean = np.nanmean(values, axis=0)
            lo, hi = np.nanpercentile(values, [25, 75], axis=0)
            line = ax.plot(days, mean, marker="o", ms=3, label=f"{name} (mean)")[0]
            ax.fill_between(days, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        ax.axvline(spec.analysis.day, color="k", lw=0.8, ls="--", label=f"primary, day {spec.analysis.day:g}")
        ax.set(title=f"{inst} (band: 25th-75th percentile)", xlabel="day", ylabel="points")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)


def rates_figure(endpoints: dict) -> str:
    """Responder and remission rates per arm with 95 % intervals (normal approximation)."""
    arms = endpoints["arms"]
    names = list(arms)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k, (key, label) in enumerate((("responder_rate", "responders"), ("remission_rate", "remission"))):
        rates = np.array([arms[n][key] if arms[n][key] is not None else np.nan for n in names])
        n = np.array([arms[n]["n"] for n in names])
        err = Z95 * np.sqrt(rates * (1 - rates) / n)
        ax.bar(x + (k - 0.5) * 0.38, rates, 0.38, yerr=err, capsize=3, label=label)
    ax.set_xticks(x, names)
    ax.set(ylim=(0, 1), ylabel="share of patients", title="Responders and remission (95 % intervals)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def kaplan_meier_figure(result: TrialResult) -> str:
    """Kaplan-Meier curves of the days to loss of response among responders, per arm."""
    spec = result.spec
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name in spec.arm_names:
        km = loss_of_response(result, name)
        if km.n == 0:
            continue
        t = np.concatenate([[0.0], km.times])
        s = np.concatenate([[1.0], km.survival])
        median = "not reached" if np.isnan(km.median) else f"{km.median:g} d"
        ax.step(t, s, where="post", label=f"{name} ({km.n} responders; median {median})")
    ax.axhline(0.5, color="k", lw=0.6, ls=":")
    ax.set(ylim=(0, 1.02), xlabel=f"days after day {spec.response.day:g}", ylabel="still responding",
           title="Time to loss of response (Kaplan-Meier)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def cluster_figure(endpoints: dict) -> str | None:
    """Mean change from baseline by DSM-5 cluster on the analysis day, per arm (None when
    the trial assessed no cluster)."""
    arms = endpoints["arms"]
    names = [n for n in arms if "clusters" in arms[n]]
    if not names:
        return None
    clusters = list(arms[names[0]]["clusters"])
    x = np.arange(len(clusters))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, name in enumerate(names):
        ax.bar(x + (k - (len(names) - 1) / 2) * width, [arms[name]["clusters"][c] for c in clusters], width, label=name)
    ax.set_xticks(x, clusters)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel="points", title=f"Change from baseline by cluster, day {endpoints['primary']['day']:g}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _maintenance(m) -> str:
    if m is None:
        return ""
    when = (f"days {', '.join(f'{d:g}' for d in m.days)}" if m.days is not None
            else f"every {m.every_days:g} d, days {m.from_day:g}-{m.until_day:g}")
    who = f", responders on day {m.decision_day:g}" if m.responders_only and m.decision_day else (
        ", responders" if m.responders_only else "")
    return f"{when}{f' ({m.dose})' if m.dose else ''}{who}"


def arm_rows(result: TrialResult) -> list[dict]:
    """One row per arm describing what it receives."""
    rows = []
    for arm, n in zip(result.spec.arms, result.spec.arm_sizes()):
        rows.append({"name": arm.name, "n": n, "drug": arm.drug.value, "route": arm.route.value,
                     "dose": ", ".join(arm.dose) if isinstance(arm.dose, list) else arm.dose,
                     "days": ", ".join(f"{d:g}" for d in arm.days),
                     "therapy": ", ".join(f"{d:g}" for d in arm.therapy_days),
                     "maintenance": _maintenance(arm.maintenance),
                     "context": ", ".join(f"{k} {v}" for k, v in (("comparator", arm.comparator),
                                                                  ("oral antidepressant", arm.oral_ad)) if v)})
    return rows


def write_trial_report(result: TrialResult, endpoints: dict, path: str | Path) -> Path:
    """Write the HTML report of ``result`` (whose endpoints are ``endpoints``) to ``path``,
    under a temporary name first so a failure leaves nothing half-written."""
    path = Path(path)
    spec = result.spec
    html = _ENV.get_template("trial_report.html.j2").render(
        e=endpoints,
        spec=spec,
        arms=arm_rows(result),
        post_days=[day_key(d) for d in spec.visits.days[1:]],
        figures={
            "trajectories": trajectory_figure(result),
            "rates": rates_figure(endpoints),
            "kaplan_meier": kaplan_meier_figure(result),
            "clusters": cluster_figure(endpoints),
        },
        run={"ketamine_ptsd_version": __version__, "seed": spec.trial.seed, "where": result.engine,
             "screened": result.screened},
    )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
