"""Worker process of :func:`srlib.latency.convert.run_tasks`: converts models until no task is left.

Usage (internal): ``python -m srlib.latency.convert_worker WORKDIR JOB.json`` where the job file holds
``{"tasks": [task, ...], "claims": DIR}``. A worker takes a task by creating ``DIR/<index>`` exclusively
(so each task runs once, whichever worker is free first), runs it with
:func:`srlib.latency.convert.run_task` (outputs are written atomically) and writes the seconds it took
into that claim file, which :func:`~srlib.latency.convert.run_tasks` reports.
"""
from __future__ import annotations

import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m srlib.latency.convert_worker WORKDIR JOB.json", file=sys.stderr)
        return 2
    import torch

    from srlib import io
    from srlib.latency import convert

    torch.set_num_threads(1)
    workdir, job = argv
    spec = io.read_json(job)
    for i, task in enumerate(spec["tasks"]):
        try:
            fd = os.open(os.path.join(spec["claims"], str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        t0 = time.perf_counter()
        convert.run_task(task, workdir)
        os.write(fd, f"{time.perf_counter() - t0:.3f}".encode())
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
