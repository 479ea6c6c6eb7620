#!/bin/bash
cd /work/main
for i in 1 2 3; do
  for who in noact main; do
    B=/work/$( [ $who = noact ] && echo wt-noact || echo main )/.venv/bin/bidwire
    echo "=== pair $i $who"
    timeout 300 .venv/bin/python bench/harness.py contention --runs=1 --rates 1000 20000 --bidwire $B --out-dir /tmp/benchout/act-$who-$i 2>&1 | grep '^| [12]'
  done
done
