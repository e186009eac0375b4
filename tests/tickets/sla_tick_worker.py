"""A worker process for the reminder tests: runs one ``tickets_tick`` against a committed
database at a given time, after a start barrier. ``crash:N`` kills the process (SIGKILL)
in the middle of the run, right after the N-th notice, before anything commits.

Usage: python -m tests.tickets.sla_tick_worker <db url> <now iso> <dir> <name> <mode>
Prints the counts of reminders it sent as JSON."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    url, now_text, folder, name, mode = argv
    from kefu.app import build_services
    from kefu.config import Settings
    from kefu.core.clock import FixedClock
    from kefu.tickets import reminders

    work = Path(folder)
    settings = Settings(env="test", data_dir=work / name, database_url=url,
                        secret_key="test-secret-key-0123456789-abcdefghijkl",
                        embedded_worker=False)
    svc = build_services(settings, clock=FixedClock(datetime.fromisoformat(now_text)))
    if mode.startswith("crash:"):
        limit = int(mode.split(":", 1)[1])
        real = reminders.do_notify
        seen = {"n": 0}

        def dying(*args: Any, **kwargs: Any) -> Any:
            out = real(*args, **kwargs)
            seen["n"] += 1
            if seen["n"] >= limit:
                svc_session = kwargs.get("uow") or args[0]
                svc_session.session.flush()  # the rows are written, not committed
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        reminders.do_notify = dying  # type: ignore[assignment]
    (work / f"{name}.ready").touch()
    deadline = time.monotonic() + 60
    while not (work / "go").exists():
        if time.monotonic() > deadline:
            print("no go signal", file=sys.stderr)
            return 2
        time.sleep(0.002)
    with svc.uows() as uow:
        counts = reminders.run_tick(uow)
    print(json.dumps(counts))
    svc.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
