#!/usr/bin/env python3
"""The two commands of the README: `python3 dev.py run` and `python3 dev.py test`.

Each installs what it needs into the project's own virtual environment (`.venv`) first,
so a newcomer with Python 3.11+ needs nothing else. `test` also makes sure the services
and tools the suite uses are there: PostgreSQL running, Debian's Chromium and ChromeDriver
for the browser tests, and axe-core from the npm registry for the accessibility checks.
Only the standard library is used here, because this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
BROWSER_TOOLS = ROOT / "tests" / "browser"


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in {"run", "test"}:
        print("usage: python3 dev.py run | test [pytest arguments]", file=sys.stderr)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036 (a newcomer may run an older python3)
        print("Python 3.11 or newer is needed.", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        install("requirements.txt")
        return subprocess.call([str(PYTHON), "app.py"], cwd=ROOT)
    install("requirements-dev.txt")
    ensure_postgresql()
    ensure_redis()
    ensure_browser_tools()
    # One worker per core; a module's tests stay together so its browser and app are shared.
    parallel = ["-n", "auto", "--dist", "loadfile"]
    return subprocess.call([str(PYTHON), "-m", "pytest", *parallel, *rest], cwd=ROOT)


def install(requirements: str) -> None:
    """Create `.venv` and install the pinned requirements, skipping work when nothing changed."""
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    files = [ROOT / "requirements.txt", ROOT / requirements]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing {requirements} …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.check_call([*pip, "--upgrade", "pip"])
    subprocess.check_call([*pip, "-r", str(ROOT / requirements)])
    stamp.write_text(digest)


def ensure_postgresql() -> None:
    """Start the local cluster if it is installed but down; the tests decide what a miss means."""
    url_host, url_port = "127.0.0.1", 5432
    if _listening(url_host, url_port) or not shutil.which("pg_ctlcluster"):
        return
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    if not versions:
        return
    print("Starting PostgreSQL …", flush=True)
    subprocess.call(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"]
    )
    for _ in range(30):
        if _listening(url_host, url_port):
            return
        time.sleep(1)


def ensure_redis() -> None:
    """Start a throwaway Redis (nothing kept on disk) if it is installed but not running."""
    if _listening("127.0.0.1", 6379) or not shutil.which("redis-server"):
        return
    print("Starting Redis …", flush=True)
    subprocess.call(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    )
    for _ in range(10):
        if _listening("127.0.0.1", 6379):
            return
        time.sleep(0.5)


def ensure_browser_tools() -> None:
    """Debian's chromium and chromium-driver (installed when missing, as root), and axe-core."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
            print("Installing Debian's chromium and chromium-driver …", flush=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.check_call(["apt-get", "update", "-qq"], env=env)
            subprocess.check_call(
                ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], env=env
            )
        else:
            print("chromium and chromedriver are missing: browser tests will be skipped.")
    if (BROWSER_TOOLS / "package.json").exists() and shutil.which("npm"):
        axe = BROWSER_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
        if not axe.exists():
            print("Installing axe-core from the npm registry …", flush=True)
            subprocess.check_call(
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=BROWSER_TOOLS
            )


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
