#!/bin/bash
# alternate base (06482c9, session 5's code) and main, one lot contention at 1,000 and 20,000 offered
cd /work/main
for i in 1 2 3; do
  for who in base main; do
    if [ $who = base ]; then B=/work/wt-base/.venv/bin/bidwire; else B=/work/main/.venv/bin/bidwire; fi
    echo "=== pair $i $who"
    timeout 300 .venv/bin/python bench/harness.py contention --runs=1 --rates 1000 20000 --bidwire $B --out-dir /tmp/benchout/$who-$i 2>&1 | tail -8
  done
done
