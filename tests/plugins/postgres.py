"""A real PostgreSQL server for tests, started by the test itself and always stopped.

Debian's binaries (``apt-get install postgresql``; ``infra/bootstrap.sh`` installs them) are found
by ``pg_config --bindir`` or under ``/usr/lib/postgresql/<major>/bin``. PostgreSQL refuses to run
as root, so as root ``initdb`` and ``pg_ctl`` run as the unprivileged ``postgres`` user (made by
the Debian package) through ``runuser``; the cluster lives in a fresh temporary folder owned by
that user. The server listens on 127.0.0.1 and a free port only (its unix socket in that folder),
and ``pg_hba.conf`` admits one password-authenticated (scram-sha-256) role from 127.0.0.1 only.
No driver is needed here: databases are made with the cluster's own ``createdb``.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from mlgate.integrations.servers import LOOPBACK, free_port

APT_HINT = "apt-get install postgresql"
START_TIMEOUT = 120.0
UNPRIVILEGED_USERS = ("postgres", "nobody")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (skip, or fail under CI)."""


def skip_or_fail(e: PostgresUnavailable) -> NoReturn:
    """Without PostgreSQL a test skips (the reason says how to install it), except under CI
    (``CI=true``), which installs it (infra/bootstrap.sh): there the test fails."""
    import pytest

    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{e}; CI installs it (infra/bootstrap.sh's APT_PACKAGES), so this is a CI setup error",
                    pytrace=False)
    pytest.skip(str(e))


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.TimeoutExpired):
            pass
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates += debian
    for d in candidates:
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


@dataclass
class PostgresServer:
    bindir: Path
    root: Path  # the temporary folder: data/, sock/, the log and the password file
    port: int
    user: str
    password: str
    run_as: list[str]  # prefix running a command as the cluster's owner ([] when not root)
    version: str = ""
    databases: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str, scheme: str = "postgresql", *, password: bool = True) -> str:
        """``postgresql://user:password@127.0.0.1:port/database`` (``scheme`` e.g. ``mlgate+postgresql``).
        ``password=False`` leaves it out (a server process gets it from :meth:`env`, not its argv)."""
        secret = f":{self.password}" if password else ""
        return f"{scheme}://{self.user}{secret}@{LOOPBACK}:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        """libpq's environment for the password (psycopg2 and the cluster's own clients read it)."""
        return {"PGPASSWORD": self.password}

    def create_database(self, name: str) -> str:
        """A new database owned by the test role; returns its ``postgresql://`` URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        env = {**os.environ, **self.env(), "PGCONNECT_TIMEOUT": "30"}
        out = subprocess.run([str(self.bindir / "createdb"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user,
                              name], capture_output=True, text=True, timeout=60, env=env, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"createdb {name} on {LOOPBACK}:{self.port} failed: {out.stderr.strip()}")
        self.databases.append(name)
        return self.url(name)

    def _pg_ctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; else ``-m immediate``; else SIGKILL the postmaster. Then the
        temporary folder is removed."""
        try:
            if (self.datadir / "postmaster.pid").exists():
                stopped = False
                for mode, wait in (("fast", 30.0), ("immediate", 15.0)):
                    try:
                        if self._pg_ctl("stop", "-m", mode, "-w", "-t", str(int(wait)),
                                        timeout=wait + 15).returncode == 0:
                            stopped = True
                            break
                    except (OSError, subprocess.TimeoutExpired):
                        continue
                pid = self._postmaster_pid()
                if not stopped and pid:
                    try:
                        os.killpg(pid, signal.SIGKILL)  # pg_ctl starts the postmaster as a session leader
                    except ProcessLookupError:
                        pass
                    except PermissionError:
                        os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run(argv: list[str], what: str, *, cwd: Path, timeout: float, log: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"PostgreSQL: {what} did not finish within {timeout:g} s") from None
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip()
        if log is not None:
            detail += f"\n--- {log} (last lines) ---\n{_tail(log)}"
        raise RuntimeError(f"PostgreSQL: {what} failed (exit {out.returncode}): {detail}")
    return out.stdout


def start_postgres(*, timeout: float = START_TIMEOUT, user: str = "mlgate") -> PostgresServer:
    """initdb a fresh cluster in a temporary folder and start it on 127.0.0.1 and a free port.
    Raises :class:`PostgresUnavailable` without binaries and RuntimeError (naming what it waited
    for, with the server log's last lines) if it does not accept connections within ``timeout``."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"PostgreSQL is not installed (no initdb/pg_ctl/postgres via pg_config --bindir "
                                  f"or /usr/lib/postgresql/*/bin; {APT_HINT})")
    # initdb runs its steps through sh with "> /dev/null": a /dev/null replaced by a regular file
    # (a program "atomically" writing to it as root) makes it fail with a puzzling message.
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        raise RuntimeError("PostgreSQL: /dev/null is not a character device (something replaced it with a file; "
                           "restore it: mknod -m 666 /dev/null c 1 3); initdb cannot run")
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # postgres refuses root: the cluster belongs to an unprivileged user
        for name in UNPRIVILEGED_USERS:
            try:
                owner = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if owner is None:
            raise PostgresUnavailable(f"running as root and no unprivileged user {UNPRIVILEGED_USERS} to run "
                                      f"PostgreSQL as ({APT_HINT} creates 'postgres')")
        runuser = shutil.which("runuser")
        run_as = [runuser, "-u", owner.pw_name, "--"] if runuser else \
            ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", "--"]

    root = Path(tempfile.mkdtemp(prefix="mlgate-pg-"))  # under /tmp: traversable by the cluster's owner
    password = secrets.token_urlsafe(18)
    server = PostgresServer(bindir=bindir, root=root, port=free_port(), user=user, password=password,
                            run_as=run_as)
    try:
        (root / "sock").mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if owner is not None:
            for p in (root, root / "sock", pwfile):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        os.chmod(root, 0o700)
        os.chmod(pwfile, 0o600)
        server.version = _run([str(bindir / "postgres"), "--version"], "postgres --version", cwd=root,
                              timeout=30).strip()
        _run([*run_as, str(bindir / "initdb"), "-D", str(server.datadir), "-U", user, f"--pwfile={pwfile}",
              "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions"],
             "initdb", cwd=root, timeout=timeout)
        pwfile.unlink()
        # Only TCP from 127.0.0.1, with the password; nothing over the socket, nothing from elsewhere.
        (server.datadir / "pg_hba.conf").write_text(
            "# mlgate tests: the test role from 127.0.0.1 with its password, nothing else\n"
            f"host all {user} 127.0.0.1/32 scram-sha-256\n")
        with (server.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# mlgate tests (tests/plugins/postgres.py)\n"
                f"listen_addresses = '{LOOPBACK}'\n"
                f"port = {server.port}\n"
                f"unix_socket_directories = '{root / 'sock'}'\n"
                "max_connections = 50\n"
                "shared_buffers = 32MB\n"
                # a throw-away cluster: no durability needed, keeps a busy machine's disk quiet
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        if owner is not None:
            for p in (server.datadir / "pg_hba.conf", server.datadir / "postgresql.conf"):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        log = server.log_path
        log.touch()
        if owner is not None:
            os.chown(log, owner.pw_uid, owner.pw_gid)
        # pg_ctl -w waits until the server accepts connections (or exits), at most -t seconds.
        _run([*run_as, str(bindir / "pg_ctl"), "-D", str(server.datadir), "-l", str(log), "-w",
              "-t", str(int(timeout)), "start"],
             f"pg_ctl start (waiting up to {timeout:g} s for {server.version} to accept connections on "
             f"{LOOPBACK}:{server.port})", cwd=root, timeout=timeout + 30, log=log)
    except BaseException:
        server.stop()
        raise
    return server
