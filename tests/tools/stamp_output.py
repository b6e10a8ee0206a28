#!/usr/bin/env python3
"""Runs a command and records when its standard output arrives: one JSON line per read,
{"t": seconds since the start, "data": the text}, to FILE; the output itself is not passed on
(stderr is). Exits with the command's status. For tests that check text streams in pieces
(the real client's stdout is what a person at a terminal sees).

usage: stamp_output.py FILE COMMAND [ARGS...]
"""
import json
import os
import subprocess
import sys
import time


def main():
    out_path, argv = sys.argv[1], sys.argv[2:]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    with open(out_path, "w") as out:
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out.write(json.dumps({"t": round(time.monotonic() - t0, 3),
                                  "data": chunk.decode("utf-8", "replace")}) + "\n")
            out.flush()
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
