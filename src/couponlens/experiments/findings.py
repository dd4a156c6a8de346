"""Plain-language findings generated from the numbers of an experiment analysis.

Every sentence is built from the result objects (no fixed text about any dataset), e.g.
"coupon raised trans_after by 0.026 per unit (95% CI 0.010 to 0.042, adjusted p = 0.002) but
not revenue_after (+0.21, 95% CI -0.40 to 0.82, adjusted p = 0.50)."

Example:
    >>> number(0.02634), number(-1.5), number(1234.5), p_text(0.0004)
    ('0.0263', '-1.50', '1,234', 'p < 0.001')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from couponlens.experiments.analysis import Effect, ExperimentAnalysis

ALL = "all"


def number(x: float | None) -> str:
    """A figure rounded for reading (3 significant digits below 1, 2 decimals below 100)."""
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def signed(x: float | None) -> str:
    """:func:`number` with an explicit sign."""
    if x is None:
        return "n/a"
    return ("+" if x >= 0 else "") + number(x)


def p_text(p: float | None) -> str:
    """``p = 0.042`` or ``p < 0.001``."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ci(e: Effect) -> str:
    return f"95% CI {number(e.ci_low)} to {number(e.ci_high)}"


def _effect_sentence(arm: str, rows: list[Effect], alpha: float) -> str:
    def significant(e: Effect) -> bool:
        return e.p_adjusted is not None and e.p_adjusted < alpha

    moved = [e for e in rows if e.status.startswith("ok") and significant(e)]
    flat = [e for e in rows if e.status.startswith("ok") and not significant(e)]
    broken = [e for e in rows if not e.status.startswith("ok")]
    parts: list[str] = []
    for e in moved:
        verb = "raised" if (e.diff or 0) > 0 else "lowered"
        rel = f", {100 * e.rel_lift:+.1f}%" if e.rel_lift is not None else ""
        parts.append(
            f"{verb} {e.outcome} by {number(abs(e.diff or 0))} per unit "
            f"({number(e.control_mean)} to {number(e.treatment_mean)}{rel}; {_ci(e)}, adjusted {p_text(e.p_adjusted)})"
        )
    text = f"{arm} vs control: " + (
        "; ".join(parts) if parts else "no significant effect on any outcome"
    )
    if flat:
        flat_text = ", ".join(
            f"{e.outcome} ({signed(e.diff)}, {_ci(e)}, adjusted {p_text(e.p_adjusted)})"
            for e in flat
        )
        text += (" but not " if parts else ": ") + flat_text
    if broken:
        text += "; " + ", ".join(f"{e.outcome}: {e.status}" for e in broken)
    return text + "."


def write_findings(analysis: ExperimentAnalysis) -> list[str]:
    """The findings sentences, most important first."""
    out: list[str] = []
    a = analysis
    if a.status != "ok":
        out.append(f"The experiment cannot be analysed: {a.status}.")
    srm = a.srm
    if srm.p is None:
        out.append(f"Sample-ratio check: {srm.status}.")
    elif srm.alarm:
        out.append(
            f"Sample-ratio mismatch: the arm sizes {srm.observed} are unlikely under the planned split "
            f"({srm.test} {p_text(srm.p)} < 0.001); randomization or logging may be broken, so treat "
            "every effect below with suspicion."
        )
    else:
        out.append(f"The arm sizes match the planned split ({srm.test} {p_text(srm.p)}).")
    measured = [b for b in a.balance if b.smd is not None]
    if measured:
        worst = max(measured, key=lambda b: abs(b.smd or 0))
        level = f" = {worst.level}" if worst.level else ""
        omni = [o for o in a.omnibus if o.p is not None]
        omni_text = (
            "; the omnibus Hotelling test gives "
            + ", ".join(f"{p_text(o.p)} ({o.arm})" for o in omni)
            if omni
            else ""
        )
        if abs(worst.smd or 0) < 0.1:
            out.append(
                f"Covariates are balanced: the largest |SMD| is {abs(worst.smd or 0):.3f} "
                f"({worst.covariate}{level}, {worst.arm}){omni_text}."
            )
        else:
            out.append(
                f"Covariate imbalance: {worst.covariate}{level} has SMD {worst.smd:.3f} in {worst.arm} "
                f"(above 0.1){omni_text}; prefer the covariate-adjusted estimates."
            )
    arms = [x.arm for x in a.arms if not x.is_control]
    for arm in arms:
        rows = [e for e in a.effects if e.arm == arm and e.segment == ALL]
        if rows:
            out.append(_effect_sentence(arm, rows, a.alpha))
    for e in a.effects:
        if e.segment == ALL and e.ancova_se is not None and e.se:
            change = 1 - e.ancova_se / e.se
            if change > 0.05:
                out.append(
                    f"Adjusting for the pre-period ({', '.join(a.pre_period)}) narrows the {e.outcome} "
                    f"interval for {e.arm} by {100 * change:.0f}%: {signed(e.ancova_diff)} "
                    f"(95% CI {number(e.ancova_ci_low)} to {number(e.ancova_ci_high)}, {p_text(e.ancova_p)})."
                )
    for i in a.interactions:
        if i.p is not None and i.p < a.alpha:
            out.append(
                f"The {i.arm} effect on {i.outcome} differs in segment {i.segment}: "
                f"{signed(i.effect_in_segment)} inside vs {signed(i.effect_in_rest)} outside "
                f"(difference {signed(i.estimate)}, interaction {p_text(i.p)})."
            )
    for segment in a.segments:
        notable = [
            c for c in a.composition if c.segment == segment and c.p is not None and c.p < 0.001
        ]
        shown: list[str] = []
        seen: set[str] = set()
        for c in sorted(
            notable, key=lambda c: (c.variable, -abs((c.segment_value or 0) - (c.rest_value or 0)))
        ):
            if c.variable in seen:
                continue
            seen.add(c.variable)
            if c.level is not None:
                shown.append(
                    f"{c.variable} ({c.level}: {100 * (c.segment_value or 0):.1f}% vs {100 * (c.rest_value or 0):.1f}%)"
                )
            else:
                shown.append(
                    f"{c.variable} (mean {number(c.segment_value)} vs {number(c.rest_value)})"
                )
        if shown:
            out.append(
                f"Segment {segment} differs from the rest in {', '.join(shown[:5])} (p < 0.001)."
            )
    for r in a.recommendations:
        if r.segment is not None:
            out.append(
                f"Recommended segment for {r.arm}: {r.segment}, where {r.outcome} rises by {number(r.diff)} "
                f"per unit (95% CI {number(r.ci_low)} to {number(r.ci_high)}, adjusted {p_text(r.p_adjusted)}); "
                f"chosen as {r.reason}."
            )
        elif a.segments:
            out.append(f"No segment to recommend for {r.arm}: {r.reason}.")
    return out
