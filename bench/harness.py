"""What every figure is given: the database URL, the size switch and the DBOS side."""

from dataclasses import dataclass

from .compare import Dbos


@dataclass
class Bench:
    url: str
    quick: bool
    dbos: Dbos
    parked_runs: int | None = None

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full
