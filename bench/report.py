"""Figures, their goals, and how they are printed: JSON lines, then a table."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    figure: str
    value: float | None
    unit: str
    dbos: float | None = None
    size: int | None = None  # the workload size it was measured at (runs, steps, samples)
    note: str = ""
    goal: str = "reference"
    ok: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    paired_ratio: float | None = None  # the median ratio of rounds measured in pairs, if any

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.value is None or not self.dbos:
            return None
        return self.value / self.dbos

    def as_json(self) -> str:
        data = {
            "figure": self.figure,
            "value": _round(self.value),
            "unit": self.unit,
            "dbos": _round(self.dbos),
            "ratio": _round(self.ratio),
            "goal": self.goal,
            "ok": self.ok,
            "size": self.size,
        }
        if self.note:
            data["note"] = self.note
        data.update(self.extra)
        return json.dumps(data)


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")


# figure -> (goal text, check(figure, all figures) -> bool | None when it cannot be judged)
Check = Callable[[Figure, dict[str, Figure]], bool | None]


def _le(bound: Callable[[Figure, dict[str, Figure]], float | None]) -> Check:
    def check(f: Figure, figs: dict[str, Figure]) -> bool | None:
        limit = bound(f, figs)
        return None if f.value is None or limit is None else f.value <= limit

    return check


def _floor(figs: dict[str, Figure]) -> float | None:
    floor = figs.get("floor_insert_ms")
    return floor.value if floor else None


def _step_goal(f: Figure, figs: dict[str, Figure]) -> bool | None:
    floor = _floor(figs)
    if f.value is None or floor is None:
        return None
    ok = f.value <= 3 * floor
    return ok and (f.dbos is None or f.value <= 0.25 * f.dbos)


def _throughput_goal(f: Figure, figs: dict[str, Figure]) -> bool | None:
    return None if f.ratio is None else f.ratio >= 5


def _same_queries(f: Figure, figs: dict[str, Figure]) -> bool | None:
    small = figs.get("inbox_list_queries_100")
    return None if f.value is None or small is None or small.value is None else f.value == small.value


def _takeover_goal(f: Figure, figs: dict[str, Figure]) -> bool | None:
    return None if f.value is None else f.value <= f.extra["lease_s"] + 10


def _times_floor(k: float) -> Check:
    return _le(lambda f, figs: None if _floor(figs) is None else k * _floor(figs))  # type: ignore[operator]


def _at_least(x: float) -> Check:
    return lambda f, _: None if f.value is None else f.value >= x


def _ratio_at_least(x: float) -> Check:
    return lambda f, _: None if f.ratio is None else f.ratio >= x


def _within_small_page(f: Figure, figs: dict[str, Figure]) -> bool | None:
    small = figs.get("inbox_list_ms_100")
    return None if f.value is None or small is None or small.value is None else f.value <= 1.5 * small.value


def _park_100k(f: Figure, figs: dict[str, Figure]) -> bool | None:
    """100,000 parked in under a minute: judged only when 100,000 were parked."""
    return None if f.value is None or (f.size or 0) < 100_000 else f.value < 60


GOALS: dict[str, tuple[str, Check]] = {
    "park_per_s": (">= 3,000/s", _at_least(3000)),
    "parked_100k_park_s": ("< 60 s at 100,000", _park_100k),
    "workflows_per_s_4c": (">= 10 x DBOS", _ratio_at_least(10)),
    "decision_to_agent_ms_p50": ("<= 20 x floor", _times_floor(20)),
    "decision_to_agent_ms_p99": ("<= 20 x floor", _times_floor(20)),
    "inbox_list_ms_100k": ("<= 1.5 x the figure at 100", _within_small_page),
    "inbox_list_queries_100k": ("same as at 100", _same_queries),
    "worker_rss_growth_mb_100k": ("< 10 MB", lambda f, _: None if f.value is None else f.value < 10),
    "sqlite_wake_ms_p50": ("<= 20 ms", _le(lambda f, _: 20.0)),
    "sqlite_workflows_per_s": (">= 3 x DBOS", _ratio_at_least(3)),
    "step_overhead_ms": ("<= 3 x floor and <= 0.25 x DBOS", _step_goal),
    "workflows_per_s": (">= 5 x DBOS", _throughput_goal),
    "workflows_per_s_2w": (">= 5 x DBOS", _throughput_goal),
    "wake_latency_ms_p50": ("<= 5 x floor", _times_floor(5)),
    "parked_100k_threads": ("0", lambda f, _: None if f.value is None else f.value <= 0),
    "parked_100k_rss_mb": ("< 100 MB", lambda f, _: None if f.value is None else f.value < 100),
    "inbox_list_ms_10k": ("<= 50 ms", _le(lambda f, _: 50.0)),
    "inbox_list_queries_10k": ("same as at 100", _same_queries),
    "takeover_s_1k": ("<= lease + 10 s", _takeover_goal),
    "agent_run_ms": ("<= 0.3 x DBOS", lambda f, _: None if f.ratio is None else f.ratio <= 0.3),
}


def judge(figs: list[Figure]) -> None:
    by_name = {f.figure: f for f in figs}
    for f in figs:
        if f.figure in GOALS:
            f.goal, check = GOALS[f.figure]
            f.ok = check(f, by_name)


def table(figs: list[Figure]) -> str:
    rows = [("figure", "ours", "DBOS", "ratio", "goal", "result")]
    for f in figs:
        verdict = {True: "pass", False: "FAIL", None: "-"}[f.ok]
        if f.value is None:
            verdict = "skipped"
        rows.append(
            (
                f.figure,
                _cell(f.value, f.unit),
                _cell(f.dbos, f.unit),
                "-" if f.ratio is None else f"{f.ratio:.3g}",
                f.goal,
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.figure}: {f.note}" for f in figs if f.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _cell(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    return f"{x:.3g} {unit}" if abs(x) < 1000 else f"{x:,.0f} {unit}"
