#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Print the closing line "N passed, N failed, N skipped" from meson's
test logs (meson-logs/testlog.json, one JSON object per test), summed over
every log given. Exit 1 if any test failed, or if no test ran at all.
Before it, each build's fault-point coverage ("fault points: F failed /
P present", from the fault test's output).

  ci-summary.py BUILD/meson-logs/testlog.json...
"""
import json
import sys


def main():
    passed = failed = skipped = 0
    failures = []
    for path in sys.argv[1:]:
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print(f'{path}: {e.strerror} (did that build fail before its tests?)',
                  file=sys.stderr)
            failed += 1
            failures.append(path)
            continue
        for line in lines:
            if not line.strip():
                continue
            t = json.loads(line)
            r = t.get('result')
            for out in (t.get('stdout') or '').splitlines():
                if out.startswith('fault points:'):
                    print(f'{path.split("/meson-logs")[0]}: {out}')
            if r in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif r == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append(f"{t.get('name')} ({r})")
    for f in failures:
        print(f'failed: {f}')
    print(f'{passed} passed, {failed} failed, {skipped} skipped')
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
