"""Worker process of :func:`srlib.latency.convert.convert_kernels`: converts its share of one-kernel models.

Usage (internal): ``python -m srlib.latency.convert_worker WORKDIR JOB.json`` where the job file holds
``{"keys": [kernel key, ...]}``; each model goes to ``convert.kernel_file(WORKDIR, key)`` (atomic writes).
"""
from __future__ import annotations

import sys


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
    for key in io.read_json(job)["keys"]:
        path = convert.kernel_file(workdir, key)
        if not path.is_file():
            convert.convert_one(key, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
