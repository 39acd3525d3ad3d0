"""``python -m bench [--quick] [--only FIGURE ...]``: every figure on PostgreSQL, as JSON lines
and then a table. DBOS is measured too when ``.venv-bench`` (or BENCH_DBOS_PYTHON) has it."""

import argparse
import sys
import time
import traceback
from collections.abc import Callable

MODULES = (
    "floor",
    "steps",
    "throughput",
    "wake",
    "parked",
    "inbox_list",
    "decision",
    "takeover",
    "rss",
    "sqlite",
    "agents",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check in about a minute")
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these groups of figures")
    parser.add_argument("--parked-runs", type=int, help="runs to park for parked_100k_* (default 100,000)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="pairs of ours-then-DBOS for the throughput and wake figures (default 5; 1 with --quick)",
    )
    parser.add_argument("--no-dbos", action="store_true", help="do not measure DBOS even if it is installed")
    args = parser.parse_args(argv)

    from . import env

    url = env.setup_django()
    import importlib

    from .compare import Dbos, dbos_python
    from .harness import Bench
    from .report import judge, table

    dbos = Dbos(None if args.no_dbos else dbos_python())
    if not dbos.available and not args.no_dbos:
        print(
            "DBOS is not installed for the comparison (see README: Benchmarks); measuring ours only.", file=sys.stderr
        )
    bench = Bench(url=url, quick=args.quick, dbos=dbos, parked_runs=args.parked_runs, rounds=args.rounds)
    figures, failed = [], []
    for name in args.only or MODULES:
        module = importlib.import_module(f".{name}", __package__)
        run: Callable[[Bench], list] = module.run
        began = time.perf_counter()
        try:
            new = run(bench)
            figures += new
            judge(figures)  # each goal needs only figures measured before it (floor first)
            for f in new:
                print(f.as_json(), flush=True)
        except Exception:
            failed.append(name)
            traceback.print_exc()
        print(f"# {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    print()
    print(table(figures))
    for error in dbos.errors:
        print(f"\n{error}", file=sys.stderr)
    if failed:
        print(f"\nfigures that could not be measured: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
