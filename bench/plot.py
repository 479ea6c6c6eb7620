"""Staleness against watchers, bidwire and the baseline, from the harness's fanout JSON files.

    python bench/plot.py [--results bench/results] [--out bench/staleness.png]

For each (server, transport, bids/s, watchers), the newest ``fanout-*.json`` file is used;
points are medians over its runs, bars their range (min..max), p50 and p99 on a log scale. Two
panels: staleness from the bid's send (bid to screen) and from its acceptance on the server
(the issue's definition), where the runs have acceptance stamps.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def points(results: Path, key: str) -> dict[str, dict[int, dict[str, list[float]]]]:
    """series label -> watchers -> {"p50": [...], "p99": [...]} (one value per run)."""
    newest: dict[tuple[str, int], tuple[str, list[dict[str, Any]]]] = {}
    for path in sorted(results.glob("fanout-*.json")):  # names sort by UTC time within a kind
        doc = json.loads(path.read_text())
        params = doc.get("params", {})
        watchers, rate = int(params.get("watchers", 0)), float(params.get("rate", 0))
        for kind, runs in doc.get("runs", {}).items():
            if not runs:
                continue
            name = "baseline (thread per client)" if kind == "baseline" else f"bidwire {kind}"
            label = f"{name}, {rate:g} bids/s"
            newest[(label, watchers)] = (path.name, runs)
    out: dict[str, dict[int, dict[str, list[float]]]] = {}
    for (label, watchers), (_, runs) in newest.items():
        entry = out.setdefault(label, {}).setdefault(watchers, {"p50": [], "p99": []})
        for r in runs:
            s = r.get(key) or {}
            for q in ("p50", "p99"):
                if s.get(q) is not None:
                    entry[q].append(float(s[q]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--out", type=Path, default=BENCH / "staleness.png")
    ns = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("staleness_ms", "from the bid's send to the watcher's socket"),
        ("staleness_from_acceptance_ms", "from the bid's acceptance on the server"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    for ax, (key, title) in zip(axes, panels, strict=True):
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # 12+ series: no colour twice
        for label, by_w in sorted(points(ns.results, key).items()):
            ws = sorted(w for w, v in by_w.items() if v["p50"])
            for q, style in (("p50", "o-"), ("p99", "s--")):
                med = [statistics.median(by_w[w][q]) for w in ws]
                lo = [m - min(by_w[w][q]) for m, w in zip(med, ws, strict=True)]
                hi = [max(by_w[w][q]) - m for m, w in zip(med, ws, strict=True)]
                ax.errorbar(ws, med, yerr=[lo, hi], fmt=style, capsize=3, label=f"{label} {q}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("watchers (log)")
        ax.set_title(f"Staleness {title}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    axes[0].set_ylabel("ms (log); medians of runs, bars = range")
    fig.tight_layout()
    fig.savefig(ns.out, dpi=110)
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
