"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, pg_ctl on a free loopback port.

PostgreSQL refuses to run as root, so as root the server runs as the postgres user that
Debian's package creates. Without the server binaries the tests that need one skip and say
how to install them (.ci/run installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

INSTALL = "the PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on the PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _as_server_user() -> list[str]:
    """The command prefix that runs the server's tools as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root, and there is no postgres user to run the server as (apt-get install postgresql)")
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def throwaway_server() -> Iterator[str]:
    """A fresh server for the duration: its SQLAlchemy URL (database postgres, user autowrite, no password)."""
    folder = binaries()
    if folder is None:
        pytest.skip(INSTALL)
    prefix = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="autowrite-pg-"))
    if prefix:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    run = [*prefix, str(folder / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [*prefix, str(folder / "initdb"), "-D", str(data), "-U", "autowrite", "--auth=trust", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
        subprocess.run([*run, "-o", options, "-l", str(base / "log"), "-w", "start"], check=True, capture_output=True)
        try:
            yield f"postgresql://autowrite@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*run, "-m", "immediate", "-w", "stop"], capture_output=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
