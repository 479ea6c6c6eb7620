"""What the live analytics cost the server: the harness's contention (bidders racing on one
lot, closed loop) run with them on and off, alternated in pairs on the same machine at the same
time (it is noisy). On: the live integrity listener (``BIDWIRE_LIVE_INTEGRITY=1``) and an admin
watching, who asks each second what the analytics page and the integrity panel ask (the sale's
report and its integrity signals); off: ``BIDWIRE_LIVE_INTEGRITY=0`` and nobody watching.
Server CPU at each offered rate and committed bids/s,
medians with ranges, and each pair's ratio on/off. Then, without a server, what scoring a sale
costs when an admin reads it (``score_sale`` over a generated sale), since the admin page reads
once a second while a sale runs.

    python bench/integrity.py [--pairs 3 --rates 1000 5000 --duration 5]
    python bench/integrity.py --quick        # one short pair, for a test
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

from bidwire.bus import Message  # noqa: E402
from bidwire.domain.events import BidPlaced, LotClosed, LotOpened  # noqa: E402
from bidwire.engine.integrity import Integrity, SaleTrack, score_sale  # noqa: E402

KINDS = ("off", "on", "poll")
"""off: nothing live, nobody watching; on: live analytics and an admin watching; poll, the
control: nothing live, and the same connection asking /healthz at the same pace (what an
HTTP client's asks cost a closed-loop contention whatever they ask)."""


WATCH_PASSWORD = "bench watch pw"


@contextlib.contextmanager
def admin_watching(
    server: harness.Server,
    paths: tuple[str, ...] | None = None,
    gate: threading.Event | None = None,
) -> Iterator[dict[str, int]]:
    """An admin with the analytics page and the integrity panel open: once a second, the
    running sale's report and integrity signals (the page's own refetch pace), in a thread;
    how many answers it got and how many failed."""
    counts = {"asked": 0, "failed": 0}
    stop = threading.Event()
    # one kept-alive connection, as a browser's page keeps: a new TCP connection per ask
    # cost the closed-loop contention more than the asks themselves
    connection = http.client.HTTPConnection("127.0.0.1", server.ports[1], timeout=10)

    def ask(path: str, token: str | None = None, body: bytes | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request("POST" if body is not None else "GET", path, body, headers)
        reply = connection.getresponse()
        return json.loads(reply.read())

    def watch() -> None:
        login = json.dumps({"username": "admin", "password": WATCH_PASSWORD}).encode()
        token = ask("/api/login", body=login)["token"]
        sale = ask("/api/sales")["sales"][0]["sale"]
        for _ in range(3600):  # bounded: an hour of seconds at most
            if stop.wait(1.0):
                return
            if gate is not None and not gate.is_set():
                continue  # a phase without the admin (phased)
            asked = (f"/api/admin/sales/{sale}/report", f"/api/admin/sales/{sale}/integrity")
            for path in paths or asked:
                try:
                    ask(path, token)
                    counts["asked"] += 1
                except (OSError, ValueError):
                    counts["failed"] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(15)
        connection.close()


@contextlib.contextmanager
def profiled(ns: argparse.Namespace, server: harness.Server, kind: str) -> Iterator[None]:
    """With ``--profile DIR``: py-spy samples the server for the run (raw folded stacks, one
    file per kind and round), to compare where "on" spends what "poll" does not."""
    if ns.profile is None:
        yield
        return
    ns.profile.mkdir(parents=True, exist_ok=True)
    out = ns.profile / f"{kind}-{len(list(ns.profile.glob(f'{kind}-*.txt'))) + 1}.txt"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(server.pid),
            "--format",
            "raw",
            "--rate",
            "250",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            spy.wait(20)
        except subprocess.TimeoutExpired:
            spy.kill()


ANALYTICS_FRAMES = (
    "bidwire/engine/integrity.py",
    "bidwire/engine/live_report.py",
    "bidwire/engine/report.py",
    "bidwire/transports/http/integrity.py",
    "bidwire/transports/http/admin.py",
)
"""A sampled stack through any of these is the analytics' own work: the listeners' per bid,
and the admin's reads (the report, the integrity signals)."""
HTTP_FRAME = "run_asgi"
"""Any HTTP request's stack (the admin's asks in "on", /healthz in "poll")."""


def profile_shares(directory: Path) -> dict[str, list[dict[str, float]]]:
    """Per kind and round, from py-spy's raw folded stacks: the samples (CPU time sampled at
    250 Hz), and the shares of them in the analytics' stacks and in HTTP requests."""
    out: dict[str, list[dict[str, float]]] = {}
    for path in sorted(directory.glob("*-*.txt")):
        kind = path.stem.rsplit("-", 1)[0]
        total = analytics = asks = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            analytics += n * any(frame in stack for frame in ANALYTICS_FRAMES)
            asks += n * (HTTP_FRAME in stack)
        if total:
            out.setdefault(kind, []).append(
                {"samples": total, "analytics": analytics / total, "http": asks / total}
            )
    return out


def contention(ns: argparse.Namespace, kind: str) -> list[dict[str, Any]]:
    """One contention run (every rate in turn) of one of KINDS: the server inherits the
    environment (BIDWIRE_LIVE_INTEGRITY, the first admin's password); on, an admin watches
    (``admin_watching``); poll, the control, asks /healthz instead."""
    live = kind == "on"
    paths = ("/healthz", "/healthz") if kind == "poll" else None
    os.environ["BIDWIRE_LIVE_INTEGRITY"] = "1" if live else "0"
    os.environ["BIDWIRE_ADMIN_PASSWORD"] = WATCH_PASSWORD
    watched: dict[str, int] = {}

    @contextlib.contextmanager
    def watch(server: harness.Server) -> Iterator[None]:
        with profiled(ns, server, kind):
            if kind == "off":
                yield
                return
            with admin_watching(server, paths) as counts:
                yield
            watched.update(counts)

    try:
        runs = harness.contention_once(argparse.Namespace(**vars(ns), watch=watch))
    finally:
        os.environ.pop("BIDWIRE_LIVE_INTEGRITY", None)
        os.environ.pop("BIDWIRE_ADMIN_PASSWORD", None)
    for run in runs:
        run["watched"] = dict(watched)
    return runs


def server_side(ns: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[list[dict[str, Any]]]] = {kind: [] for kind in KINDS}
    errors: list[str] = []
    for pair in range(ns.pairs):
        order = KINDS if pair % 2 == 0 else KINDS[::-1]  # neither always runs first
        for kind in order:
            try:
                runs[kind].append(contention(ns, kind))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors.append(f"pair {pair + 1} {kind}: {exc}")
                print(errors[-1], file=sys.stderr)
    if not runs["off"] or not runs["on"]:
        return {"errors": errors}
    summary = {kind: harness.summarize_contention(rs) for kind, rs in runs.items() if rs}
    ratios = []
    for i, rate in enumerate(ns.rates):
        row: dict[str, Any] = {"rate": rate}
        for kind in ("on", "poll"):
            if not runs[kind]:
                continue
            cpu = [
                run[i]["server"]["cpu_fraction"] / max(off[i]["server"]["cpu_fraction"], 1e-9)
                for off, run in zip(runs["off"], runs[kind], strict=False)
            ]
            bids = [
                run[i]["bids"]["accepted_per_s"] / max(off[i]["bids"]["accepted_per_s"], 1e-9)
                for off, run in zip(runs["off"], runs[kind], strict=False)
            ]
            row[f"cpu_{kind}_over_off"] = harness.med(cpu)
            row[f"bids_{kind}_over_off"] = harness.med(bids)
        ratios.append(row)
    return {"summary": summary, "ratios": ratios, "runs": runs, "errors": errors}


def server_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, from the scheduler's own nanosecond count
    (``/proc/PID/task/*/schedstat``: /proc/PID/stat's ticks are 10 ms, too coarse here)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def phased(ns: argparse.Namespace) -> dict[str, Any]:
    """The same run with and without: one server, live analytics on, a contention of
    ``--rates``' first rate for the whole run, and an admin watching (the report and the
    integrity signals each second, over one kept-alive connection) in every other phase of
    ``--phase-seconds``. Each pair of phases is compared: server CPU watching over not. The
    listener's own cost, on in both, is measured apart (``listener``). Alternating within one
    process takes out what differs between processes (the disk's fsync times, where the
    kernel put the threads), which made separate runs differ by ±25%."""
    os.environ["BIDWIRE_LIVE_INTEGRITY"] = "1"
    os.environ["BIDWIRE_ADMIN_PASSWORD"] = WATCH_PASSWORD
    phases: list[dict[str, float]] = []
    watching = threading.Event()

    @contextlib.contextmanager
    def watch(server: harness.Server) -> Iterator[None]:
        stop = threading.Event()

        def drive() -> None:
            stop.wait(ns.settle_seconds)  # the load starts, the first asks are made
            for i in range(2 * ns.phases):
                if i % 2 == 0:
                    watching.set()
                else:
                    watching.clear()
                cpu0, t0 = server_cpu_seconds(server.pid), time.monotonic()
                if stop.wait(ns.phase_seconds):
                    return
                cpu1, t1 = server_cpu_seconds(server.pid), time.monotonic()
                phases.append({"watching": float(i % 2 == 0), "cpu": (cpu1 - cpu0) / (t1 - t0)})
            watching.clear()

        driver = threading.Thread(target=drive, daemon=True)
        with admin_watching(server, gate=watching):
            driver.start()
            try:
                yield
            finally:
                stop.set()
                driver.join(5)

    duration = ns.settle_seconds + 2 * ns.phases * ns.phase_seconds + 1
    try:
        runs = harness.contention_once(
            argparse.Namespace(
                **{**vars(ns), "duration": duration, "rates": ns.rates[:1]}, watch=watch
            )
        )
    finally:
        os.environ.pop("BIDWIRE_LIVE_INTEGRITY", None)
        os.environ.pop("BIDWIRE_ADMIN_PASSWORD", None)
    ratios = [
        on["cpu"] / off["cpu"]
        for on, off in zip(phases[0::2], phases[1::2], strict=False)
        if off["cpu"] > 0
    ]
    return {
        "phases": phases,
        "ratios": ratios,
        "ratio": harness.med(ratios),
        "cpu_watching": harness.med([p["cpu"] for p in phases if p["watching"]]),
        "cpu_not": harness.med([p["cpu"] for p in phases if not p["watching"]]),
        "run": runs[0] if runs else None,
    }


def generated_sale(lots: int, bids: int, bidders: int, seed: int = 7) -> SaleTrack:
    """A closed sale of ``bids`` bids spread over ``lots`` lots by ``bidders`` people."""
    rng = random.Random(seed)
    track = SaleTrack("bench")
    t0 = 1_000_000
    per_lot = max(1, bids // lots)
    for n in range(lots):
        lot = f"lot-{n}"
        track.apply(LotOpened(lot, 1, "bench", lot, "", "USD", 100, 100, t0 + 600_000, t0))
        ts, last = t0, ""
        for i in range(per_lot):
            ts += rng.randint(200, 5_000)
            who = last
            while who == last:
                who = f"b{rng.randrange(bidders)}"
            track.apply(BidPlaced(lot, i + 2, 100 + i, who, ts + 10_000, 0, ts))
            last = who
        track.apply(LotClosed(lot, per_lot + 2, "sold", last, 100 + per_lot, ts + 10_000))
    return track


def scoring(ns: argparse.Namespace) -> dict[str, Any]:
    out = []
    for lots, bids, bidders in ns.sales:
        t = time.perf_counter()
        track = generated_sale(lots, bids, bidders)
        built = time.perf_counter() - t
        times = []
        for _ in range(ns.repeat):
            t = time.process_time()  # CPU, not wall time: the machine is shared
            scored = score_sale(track, 10**13)
            times.append((time.process_time() - t) * 1000)
        out.append(
            {
                "lots": lots,
                "bids": bids,
                "bidders": len(scored),
                "apply_us_per_bid": round(built / bids * 1e6, 2),
                "score_ms": harness.med(times),
            }
        )
    return {"scoring": out}


def listener(ns: argparse.Namespace) -> dict[str, Any]:
    """The listener's own CPU per bid, without a server: ``Integrity._heard`` (what the bus
    calls for each committed event) over ``--listener-bids`` bids on one lot by ``--bidders``
    people, in the contention's pattern (each bid by someone other than the last). This is
    the deterministic part of the cost; the contention pairs above are the noisy whole."""
    integrity = Integrity(None, live=True)  # type: ignore[arg-type]
    rng = random.Random(3)
    t0 = 1_000_000
    messages = [Message("lot", "x", 1, LotOpened("x", 1, "s", "x", "", "USD", 1, 1, t0, t0))]
    last = ""
    for i in range(ns.listener_bids):
        who = last
        while who == last:
            who = f"b{rng.randrange(ns.bidders)}"
        ts = t0 + i
        messages.append(Message("lot", "x", i + 2, BidPlaced("x", i + 2, i + 1, who, ts, 0, ts)))
        last = who
    times = []
    for _ in range(ns.repeat):
        integrity.tracks = {"s": SaleTrack("s")}
        integrity._lot_sale = {"x": "s"}
        heard = integrity._heard
        t = time.process_time()
        for message in messages:
            heard(message)
        times.append((time.process_time() - t) / len(messages) * 1e6)
    per_bid = harness.med(times)
    return {
        "listener": {
            "bids": ns.listener_bids,
            "bidders": ns.bidders,
            "us_per_bid": per_bid,
            "cpu_share_at_1000_bids_s": (per_bid["median"] or 0) * 1000 / 1e6,
        }
    }


def med_range(values: list[float]) -> str:
    return f"{statistics.median(values):.2%} ({min(values):.2%}..{max(values):.2%})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--bidders", type=int, default=1000)
    p.add_argument("--rates", type=float, nargs="+", default=[1000, 5000])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--gen-cpu", type=int, default=1)
    p.add_argument("--bidwire", type=Path, default=harness.BIDWIRE)
    p.add_argument("--repeat", type=int, default=5, help="scorings of each generated sale")
    p.add_argument("--listener-bids", type=int, default=100_000)
    p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    p.add_argument("--quick", action="store_true", help="one short pair and a small sale")
    p.add_argument("--no-server", action="store_true", help="only the scoring, no server")
    p.add_argument("--profile", type=Path, help="py-spy each server into this directory")
    p.add_argument("--phases", type=int, default=0, help="one server, watched every other phase")
    p.add_argument("--phase-seconds", type=float, default=5.0)
    p.add_argument("--settle-seconds", type=float, default=3.0)
    ns = p.parse_args(argv)
    ns.sales = [(100, 10_000, 1_000), (1_000, 100_000, 5_000)]
    if ns.quick:
        ns.pairs, ns.rates, ns.duration, ns.bidders, ns.repeat = 1, [200], 1.0, 50, 2
        ns.sales, ns.listener_bids = [(10, 1_000, 50)], 1_000
    ns.max_share, ns.step = 0.0, 1
    doc: dict[str, Any] = {**scoring(ns), **listener(ns)}
    heard = doc["listener"]
    print(
        f"listener: {harness.cell_range(heard['us_per_bid'], '{:.2f}')} us of CPU per bid"
        f" ({heard['bids']:,} bids on one lot, {heard['bidders']:,} bidders):"
        f" {heard['cpu_share_at_1000_bids_s']:.2%} of a core at 1,000 bids/s"
    )
    for row in doc["scoring"]:
        s = row["score_ms"]
        print(
            f"score_sale: {row['bids']:,} bids over {row['lots']:,} lots, {row['bidders']:,}"
            f" bidders: {harness.cell_range(s, '{:.2f}')} ms;"
            f" apply {row['apply_us_per_bid']} us/bid (building the events included)"
        )
    if ns.phases:
        phased_doc = doc["phased"] = phased(ns)
        share = heard["cpu_share_at_1000_bids_s"]
        ratio, cpu_not = phased_doc["ratio"], phased_doc["cpu_not"]["median"] or 1
        print(
            f"phased, {ns.phases} pairs of {ns.phase_seconds:g} s at {ns.rates[0]:g} bids/s:"
            f" server cpu watching/not {harness.cell_range(ratio, '{:.3f}')};"
            f" cpu {harness.cell_range(phased_doc['cpu_watching'], '{:.3f}')} watching,"
            f" {harness.cell_range(phased_doc['cpu_not'], '{:.3f}')} not;"
            f" the listener, on in both, {share / cpu_not:.2%} of the server's cpu"
        )
    elif not ns.no_server:
        doc.update(server_side(ns))
        if "summary" in doc:
            for kind in KINDS:
                if kind in doc["summary"]:
                    print(f"{kind}:")
                    print(harness.print_contention(doc["summary"][kind]))
            for r in doc["ratios"]:
                for kind in ("on", "poll"):
                    if f"cpu_{kind}_over_off" in r:
                        print(
                            f"at {r['rate']:g} offered/s: server cpu {kind}/off"
                            f" {harness.cell_range(r[f'cpu_{kind}_over_off'], '{:.3f}')},"
                            f" committed bids/s {kind}/off"
                            f" {harness.cell_range(r[f'bids_{kind}_over_off'], '{:.3f}')}"
                        )
    if ns.profile is not None:
        shares = doc["profile"] = profile_shares(ns.profile)
        for kind, rounds in shares.items():
            print(
                f"profile {kind}: analytics {med_range([r['analytics'] for r in rounds])},"
                f" HTTP requests {med_range([r['http'] for r in rounds])} of the server's"
                f" samples ({len(rounds)} rounds, {sum(r['samples'] for r in rounds):,.0f}"
                " samples)"
            )
    harness.save(ns, "integrity-quick" if ns.quick else "integrity", doc)
    return 1 if doc.get("errors") and "summary" not in doc else 0


if __name__ == "__main__":
    raise SystemExit(main())
