"""How fast the report and history pages answer on a store of a million bids (issue 13, Scale).

Builds the store with bench/bigstore.py (or reads one it built: ``--store``), makes a bidder
account for its busiest bidder (for the ``/api/me/...`` pages), starts ``bidwire serve`` on it
(loopback, free ports, a child process we end by its PID), logs in and asks every page in
``PAGES`` a first time (cold: the server's caches empty; the OS page cache is not dropped) and then
``--repeat`` more times, over ``--runs`` server starts. A page whose route the server does not
have (not in its /openapi.json; another package may add it) is skipped with a note. Prints
medians with their ranges (min..max) and writes JSON into ``bench/results/``.

    python bench/pages.py [--store PATH] [--runs 2 --repeat 5] [--quick] [--label NAME]

``--quick`` builds a small store (20,000 bids over 200 lots in 4 sales) and asks each page
twice: what tests/bench/test_pages.py runs. Every time is the client's (urllib, a new
connection per request): what a person's page waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bigstore

BENCH = Path(__file__).resolve().parent
PASSWORD = "bench pages pw"
LISTENING = re.compile(r"bidwire listening: tcp [\d.]+:(\d+) http [\d.]+:(\d+)")
LIMIT_S = 1.0
"""The issue's bound: every report and history page under 1 s."""


@dataclass(frozen=True)
class Page:
    name: str
    route: str
    """The route as /openapi.json names it (to tell a missing route from a missing id)."""
    path: str
    """The request, with {sale} {anonymous} {lot} {bidder} {from} {to} filled from the build."""
    who: str  # "public", "admin" or "bidder"
    follow: tuple[str, str] | None = None
    """(the answer's cursor key, the query parameter): ask the page after the first one."""


PAGES = (
    Page("sale report", "/api/admin/sales/{sale_id}/report", "/api/admin/sales/{sale}/report",
         "admin"),
    Page("results", "/api/sales/{sale_id}/results", "/api/sales/{sale}/results", "public"),
    Page("results, anonymous sale", "/api/sales/{sale_id}/results",
         "/api/sales/{anonymous}/results", "public"),
    Page("settlement (JSON)", "/api/admin/sales/{sale_id}/settlement",
         "/api/admin/sales/{sale}/settlement", "admin"),
    Page("settlement (CSV)", "/api/admin/sales/{sale_id}/settlement",
         "/api/admin/sales/{sale}/settlement?format=csv", "admin"),
    Page("lot bids, newest page", "/api/lots/{lot_id}/bids", "/api/lots/{lot}/bids", "public"),
    Page("lot bids, oldest page", "/api/lots/{lot_id}/bids", "/api/lots/{lot}/bids?before_seq=60",
         "public"),
    Page("lot bids (admin)", "/api/admin/lots/{lot_id}/bids", "/api/admin/lots/{lot}/bids",
         "admin"),
    Page("lot bids, next page", "/api/lots/{lot_id}/bids", "/api/lots/{lot}/bids", "public",
         ("next_before_seq", "before_seq")),
    Page("my activity", "/api/me/activity", "/api/me/activity", "bidder"),
    Page("my activity, next page", "/api/me/activity", "/api/me/activity", "bidder",
         ("next_before", "before")),
    Page("sale history", "/api/sales/{sale_id}/bids", "/api/sales/{sale}/bids", "public"),
    Page("sale history, anonymous", "/api/sales/{sale_id}/bids", "/api/sales/{anonymous}/bids",
         "public"),
    Page("sale history (admin)", "/api/admin/sales/{sale_id}/bids",
         "/api/admin/sales/{sale}/bids", "admin"),
    Page("sale history, next page", "/api/sales/{sale_id}/bids", "/api/sales/{sale}/bids",
         "public", ("next_before", "before")),
    Page("bidder history (admin)", "/api/admin/bidders/{name}/bids",
         "/api/admin/bidders/{bidder}/bids", "admin"),
    Page("my bids", "/api/me/bids", "/api/me/bids", "bidder"),
    Page("across sales", "/api/admin/report", "/api/admin/report?from={from}&to={to}", "admin"),
    Page("integrity", "/api/admin/sales/{sale_id}/integrity",
         "/api/admin/sales/{sale}/integrity", "admin"),
    Page("lot replay", "/api/lots/{lot_id}/replay", "/api/lots/{lot}/replay", "public"),
    Page("sale replay, first page", "/api/sales/{sale_id}/replay", "/api/sales/{sale}/replay",
         "public"),
    Page("sales listing (not a report; for scale)", "/api/sales", "/api/sales", "public"),
)  # fmt: skip


def _shape(route: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", route)


class Server:
    """``bidwire serve`` on the store, in a child process ended by its PID."""

    def __init__(self, path: Path, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
        env |= {"BIDWIRE_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "bidwire", "serve", "--host", "127.0.0.1"]
        command += ["--tcp-port", "0", "--http-port", "0", "--store", f"sqlite:///{path}"]
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
        assert self.proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            seen.append(line)
            match = LISTENING.search(line)
            if match:
                self.start_s = time.perf_counter() - started
                self.url = f"http://127.0.0.1:{match.group(2)}"
                return
        self.stop()
        raise RuntimeError("the server did not start:\n" + "".join(seen[-20:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate(timeout=10)


def _ask(url: str, token: str | None, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def login(base: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    status, answer = _ask(base + "/api/login", None, body)
    if status != 200:
        raise RuntimeError(f"cannot log in as {username}: {status} {answer[:200]!r}")
    return str(json.loads(answer)["token"])


def make_bidder(path: Path, name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_NEW_PASSWORD"] = PASSWORD
    command = [sys.executable, "-m", "bidwire", "admin", "create-user", name]
    made = subprocess.run(
        [*command, "--store", f"sqlite:///{path}"], env=env, capture_output=True, text=True
    )
    if made.returncode != 0 and "taken" not in made.stderr + made.stdout:
        raise RuntimeError(f"cannot create {name}: {made.stderr or made.stdout}")


def fill(page: Page, built: bigstore.Built) -> str:
    last = bigstore.START_MS + len(built.sales) * 3 * bigstore.DAY_MS
    values = {
        "sale": built.busiest_sale,
        "anonymous": (built.anonymous or built.sales)[0],
        "lot": built.busiest_lot,
        "bidder": built.busiest_bidder,
        "from": str(bigstore.START_MS),
        "to": str(last),
    }
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), page.path)


def one_run(path: Path, built: bigstore.Built, repeat: int, workdir: Path) -> dict[str, Any]:
    server = Server(path, workdir)
    try:
        status, spec = _ask(server.url + "/openapi.json", None)
        routes = {_shape(route) for route in json.loads(spec)["paths"]} if status == 200 else set()
        tokens = {
            "public": None,
            "admin": login(server.url, "admin", PASSWORD),
            "bidder": login(server.url, built.busiest_bidder, PASSWORD),
        }
        pages: dict[str, Any] = {}
        for page in PAGES:
            if _shape(page.route) not in routes:
                pages[page.name] = {"skipped": f"the server has no route {page.route}"}
                continue
            path = fill(page, built)
            if page.follow is not None:
                key, parameter = page.follow
                _, first = _ask(server.url + path, tokens[page.who])
                cursor = json.loads(first)[key]
                if cursor is None:
                    pages[page.name] = {"skipped": f"the first page has no {key}"}
                    continue
                path += f"?{parameter}={quote(str(cursor), safe='')}"
            url = server.url + path
            times, statuses, size = [], set(), 0
            for _ in range(1 + repeat):
                started = time.perf_counter()
                status, answer = _ask(url, tokens[page.who])
                times.append(time.perf_counter() - started)
                statuses.add(status)
                size = len(answer)
            pages[page.name] = {
                "path": path,
                "status": sorted(statuses),
                "bytes": size,
                "first_s": times[0],
                "then_s": times[1:],
            }
        return {"start_s": server.start_s, "pages": pages}
    finally:
        server.stop()


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in runs[0]["pages"]:
        entries = [run["pages"][name] for run in runs]
        if "skipped" in entries[0]:
            summary[name] = {"skipped": entries[0]["skipped"]}
            continue
        firsts = [e["first_s"] for e in entries]
        thens = [t for e in entries for t in e["then_s"]] or firsts
        summary[name] = {
            "path": entries[0]["path"],
            "status": sorted({s for e in entries for s in e["status"]}),
            "bytes": entries[0]["bytes"],
            "first_ms": _spread(firsts),
            "ms": _spread(thens),
            "under_1s": max(firsts + thens) < LIMIT_S,
        }
    starts = [run["start_s"] for run in runs]
    summary["server start"] = {"ms": _spread(starts)}
    return summary


def _spread(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "median": round(statistics.median(ms), 1),
        "min": round(min(ms), 1),
        "max": round(max(ms), 1),
    }


def show(summary: dict[str, Any]) -> str:
    lines = [f"{'page':40} {'first ms':>22} {'then ms':>22}  status  bytes"]
    for name, entry in summary.items():
        if "skipped" in entry:
            lines.append(f"{name:40} skipped: {entry['skipped']}")
            continue
        first = entry.get("first_ms")
        shown = [
            f"{d['median']:8.1f} ({d['min']:.0f}..{d['max']:.0f})" if d else ""
            for d in (first, entry["ms"])
        ]
        status = ",".join(str(s) for s in entry.get("status", []))
        flag = "" if entry.get("under_1s", True) else "  OVER 1 s"
        lines.append(
            f"{name:40} {shown[0]:>22} {shown[1]:>22}  {status:6}  {entry.get('bytes', '')}{flag}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="a store bench/bigstore.py built")
    parser.add_argument("--runs", type=int, default=2, help="server starts")
    parser.add_argument("--repeat", type=int, default=5, help="asks per page after the first")
    parser.add_argument("--quick", action="store_true", help="a small store, each page twice")
    parser.add_argument("--label", default="")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.repeat = 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = args.store
        if path is None:
            path = workdir / "big.db"
            size = dict(bids=20_000, lots=200, sales=4) if args.quick else {}
            built = bigstore.build(path, **size)
            print(f"built {built.bids:,} bids over {built.lots:,} lots in {built.build_s:.1f} s")
        else:
            built = bigstore.built_of(path)
        make_bidder(path, built.busiest_bidder)
        runs = [one_run(path, built, args.repeat, workdir) for _ in range(args.runs)]
    summary = summarise(runs)
    print(show(summary))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    kind = "quick" if args.quick else f"{built.bids}b"
    out = args.out_dir / f"pages-{args.label or 'run'}-{kind}-{stamp}.json"
    config = {"runs": args.runs, "repeat": args.repeat, "quick": args.quick, "label": args.label}
    doc = {"config": config, "built": built.summary(), "runs": runs, "summary": summary}
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return doc


if __name__ == "__main__":
    main()
