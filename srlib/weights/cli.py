"""``python -m srlib.weights list | fetch NAME...``: the backbones and the released checkpoints."""
from __future__ import annotations

import argparse
import sys

from . import backbones, released


def _list() -> None:
    print("ImageNet backbones (data/weights/ or torch's hub cache):")
    for spec in backbones.WEIGHTS.values():
        ok, _ = backbones.available(spec.name)
        print(f"  {spec.name:12s} {'OK ' + str(backbones.path(spec.name)) if ok else 'missing'}\n"
              f"      {spec.url}\n      sha256 {spec.sha256}  ({spec.used_by})")
    print(f"\nAuthors' released checkpoints ({' then '.join(map(str, released.search_dirs()))}):")
    for s in released.RELEASED.values():
        ok, _ = released.available(s.name)
        status = f"OK {released.path(s.name)}" if ok else "missing"
        print(f"  {s.name:12s} {status}  -- {s.title}\n"
              f"      {s.url or 'not fetchable by script: ' + s.hosted}\n"
              f"      {s.check}\n"
              f"      format: {s.file_format}; keys: {s.key_format}; units: {s.units}\n"
              f"      -> srlib.models {s.model!r}{' ' + str(dict(s.kwargs)) if s.kwargs else ''}; printed in: "
              f"{'; '.join(f'{p} {t} ({m})' for p, t, m in s.printed) or '-'}")


def main(argv: list[str] | None = None) -> int:
    names = list(backbones.WEIGHTS) + list(released.RELEASED)
    ap = argparse.ArgumentParser(prog="python -m srlib.weights",
                                 description="Checksummed ImageNet backbones (LPIPS, VGG loss) and the authors' "
                                             "released SR checkpoints.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="show each file, its URL, checksum, format and whether it is present")
    f = sub.add_parser("fetch", help="download and verify weights into <data>/weights (released: "
                                     "<data>/weights/released)")
    f.add_argument("names", nargs="+", choices=names + ["all"], metavar="NAME",
                   help=f"one of: {', '.join(names)}, or all (every file a script can fetch)")
    f.add_argument("--timeout", type=float, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "list":
        _list()
        return 0
    if "all" in args.names:
        todo = list(backbones.WEIGHTS) + [n for n, s in released.RELEASED.items() if s.url]
        for n, s in released.RELEASED.items():
            if not s.url:
                print(f"{n}: not fetchable by script; {released.absent_note(n)}")
    else:
        todo = list(dict.fromkeys(args.names))
    rc = 0
    for n in todo:
        try:
            mod = backbones if n in backbones.WEIGHTS else released
            print(f"{n}: {mod.fetch(n, timeout=args.timeout)}")
        except Exception as e:  # report every name, then fail
            print(f"error: {n}: {e}", file=sys.stderr)
            rc = 1
    return rc
