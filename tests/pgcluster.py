"""A throwaway PostgreSQL 15 cluster for tests that restart, stop or reconfigure the server.

The machine's PostgreSQL is shared (other projects, other test runs): a test never restarts or
reconfigures it. A test that needs to do that to a server gets its own cluster instead, made with
``initdb`` in a temporary directory and served by ``pg_ctl`` on a free port, owned by the
``postgres`` OS user when the tests run as root (PostgreSQL refuses to run as root), with trust
authentication on 127.0.0.1 only, and removed afterwards.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

BIN = Path(os.environ.get("PG_TEST_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
# The test process names its own connections, so that "the workers' connections" can be told apart.
TEST_APPLICATION_NAME = "pytest"


class ClusterUnavailable(RuntimeError):
    """initdb/pg_ctl are missing or cannot run here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL cluster in a temporary directory. ``init()`` makes it; ``remove()`` deletes it."""

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (BIN / tool).exists():
                raise ClusterUnavailable(
                    f"{BIN / tool} is missing: install PostgreSQL 15's server (apt-get install postgresql-15) "
                    "or point PG_TEST_BIN at its bin directory"
                )
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="durable-pgcluster-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.dir, SUPERUSER, SUPERUSER)

    # --- processes ------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(BIN / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        # Output to a file, not a pipe: a server that pg_ctl starts inherits it and would keep it open.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout)
            if proc.returncode != 0:
                out.seek(0)
                raise ClusterUnavailable(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out.read()}")

    def init(self) -> "Cluster":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8")
        options = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.dir}'",
            "fsync": "off",  # a throwaway cluster: a restart here is a clean shutdown, never a power cut
            "max_connections": 200,
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in options.items())
        self.start()
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """A fast shutdown: the server terminates every session, as an operator's restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")

    def stopped_for(self, seconds: float) -> None:
        """Stop the server, keep it down for ``seconds`` (clients meet refused connections), start it."""
        self.stop()
        time.sleep(seconds)  # the outage's length is the fault itself, not a wait for some state
        self.start()

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- SQL --------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` database that ignores read-only defaults."""
        conn = psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=10
        )
        conn.execute("SET default_transaction_read_only = off")
        return conn

    def sql(self, statement: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        with self.admin() as conn:
            cur = conn.execute(statement.encode(), params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, template: str | None = None) -> None:
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def terminate_backends(self, dbname: str) -> int:
        """Terminate every session on ``dbname`` except the test process's own; return how many."""
        rows = self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
            [dbname, TEST_APPLICATION_NAME],
        )
        return sum(1 for (ok,) in rows if ok)

    def backends(self, dbname: str) -> list[int]:
        """The server pids of the sessions on ``dbname`` that are not the test process's own."""
        rows = self.sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
            [dbname, TEST_APPLICATION_NAME],
        )
        return [int(pid) for (pid,) in rows]

    def terminate(self, pids: list[int]) -> int:
        rows = self.sql("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        return sum(1 for (ok,) in rows if ok)

    def set_system(self, name: str, value: str | None) -> None:
        """ALTER SYSTEM SET (or RESET with ``None``) and reload: every session, open or new, sees it
        at its next statement."""
        if value is None:
            self.sql(f"ALTER SYSTEM RESET {name}")
        else:
            self.sql(f"ALTER SYSTEM SET {name} = '{value}'")
        self.sql("SELECT pg_reload_conf()")

    def read_only(self, on: bool) -> None:
        self.set_system("default_transaction_read_only", "on" if on else None)

    def default_isolation(self, level: str | None) -> None:
        self.set_system("default_transaction_isolation", level)
