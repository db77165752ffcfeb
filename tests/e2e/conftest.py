"""The end-to-end fixtures: the real server (``ketamine-ptsd serve`` in a subprocess on a
free loopback port, with its own SQLite file and log) and Debian's chromium driven by
Playwright.

Without ``/usr/bin/chromium`` the tests are skipped with the reason, except under CI (env
``CI`` set), where they fail. Install it with ``apt-get install -y chromium``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVE = "import typer; from ketamine_ptsd.cli_web import serve; typer.run(serve)"
STARTUP_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this fails rather than skips)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served by the ``serve`` command: its base URL, database URL and log file."""
    folder = tmp_path_factory.mktemp("e2e")
    db = f"sqlite:///{folder / 'records.sqlite'}"
    log = folder / "server.log"
    port = _free_port()
    env = {**os.environ, "KETAMINE_PTSD_SECRET_KEY": "e2e-secret-key-0123456789abcdef"}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, "--port", str(port), "--db", db],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.3)
    yield {"url": base, "db": db, "log": log}
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield instance
        instance.close()
