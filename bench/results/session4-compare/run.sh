#!/usr/bin/env bash
# Old (session start, 753779d) and new bidwire alternating, same harness, same machine.
cd /work/main
OLD=/work/wt-base/.venv/bin/bidwire
NEW=/work/main/.venv/bin/bidwire
for i in 1 2 3 4; do
  for who in old new; do
    exe=$OLD; [ $who = new ] && exe=$NEW
    echo "== contention $who $i"
    .venv/bin/python bench/harness.py contention --runs=1 --duration=2 --rates 1000 20000 --bidwire $exe --out-dir /tmp/cmp/$who 2>&1 | tail -6
    echo "== fanout $who $i"
    .venv/bin/python bench/harness.py bidwire-fanout --transport=json --watchers=1000 --duration=5 --runs=1 --bidwire $exe --out-dir /tmp/cmp/$who 2>&1 | tail -6
    echo "== connections $who $i"
    .venv/bin/python bench/harness.py connections --transport=json --connections=5000 --runs=1 --hold=1 --bidwire $exe --out-dir /tmp/cmp/$who 2>&1 | tail -4
  done
done
