"""What every figure is given: the database URL, the size switch and the DBOS side."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .compare import Dbos
from .report import Figure


@dataclass
class Bench:
    url: str
    quick: bool
    dbos: Dbos
    parked_runs: int | None = None
    rounds: int | None = None

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    def paired(self, ours: Callable[[], float], dbos: Callable[[], float | None]) -> "Paired":
        """Measure ours, then DBOS, ``rounds`` times (5 by default, 1 with --quick). This
        machine's speed drifts by a third within minutes; a pair measured back to back shares
        the drift, so the ratio is the median of the pairs' ratios."""
        pairs = [(ours(), dbos()) for _ in range(self.rounds or self.size(1, 5))]
        return Paired(pairs)


@dataclass
class Paired:
    pairs: list[tuple[float, float | None]]

    @property
    def ours(self) -> float:
        return statistics.median(o for o, _ in self.pairs)

    @property
    def dbos(self) -> float | None:
        measured = [d for _, d in self.pairs if d]
        return statistics.median(measured) if measured else None

    @property
    def ratios(self) -> list[float]:
        return [o / d for o, d in self.pairs if d]

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    def figure(self, name: str, unit: str, size: int, note: str = "") -> Figure:
        return Figure(name, self.ours, unit, dbos=self.dbos, size=size, paired_ratio=self.ratio, extra=self.extra(),
                      note=note)  # fmt: skip

    def extra(self) -> dict[str, object]:
        """The rounds, for the JSON line: ours and DBOS of each, and the spread of the ratios."""
        ratios = self.ratios
        data: dict[str, object] = {"rounds": [[_r(o), _r(d)] for o, d in self.pairs]}
        if ratios:
            data["ratio_range"] = [_r(min(ratios)), _r(max(ratios))]
        return data


def _r(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")
