"""Benchmarks: the engine and the inbox against DBOS Transact and PostgreSQL's own floor.

Run ``python -m bench`` (``--quick`` for small sizes). Not tests: each figure prints one JSON line.
"""
