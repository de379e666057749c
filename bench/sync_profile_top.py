"""Top functions of a py-spy raw (collapsed-stack) profile: own samples and with callees.

    .venv/bin/python bench/sync_profile_top.py /tmp/prof/importer-10000.txt [--top 25]
"""
from __future__ import annotations

import argparse
import collections
import re

_FRAME = re.compile(r"^(.*) \((.*?):\d+\)$")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    with open(args.path, encoding="utf-8") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            n = int(count)
            samples += n
            frames = []
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                frames.append(f"{m.group(1)} ({m.group(2).rsplit('/site-packages/', 1)[-1]})" if m else frame)
            own[frames[-1]] += n
            for f in set(frames):
                total[f] += n
    print(f"{samples} samples")
    print("-- own --")
    for f, n in own.most_common(args.top):
        print(f"{100 * n / samples:5.1f}%  {f}")
    print("-- with callees --")
    for f, n in total.most_common(args.top):
        print(f"{100 * n / samples:5.1f}%  {f}")


if __name__ == "__main__":
    main()
