import json, glob, statistics as st, sys
base = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cmp"
def fmt(xs): return f"{st.median(xs):.2f} ({min(xs):.2f}..{max(xs):.2f})" if xs else "-"
for who in ("old","new"):
    acc1=[];acc20=[];p99_1=[];p50_1=[]
    for f in sorted(glob.glob(f"{base}/{who}/contention-*.json")):
        d=json.load(open(f))
        for row in d["summary"]:
            if row["rate"]==1000: p50_1.append(row["ack_p50_ms"]["median"]); p99_1.append(row["ack_p99_ms"]["median"]); acc1.append(row["accepted_per_s"]["median"])
            else: acc20.append(row["accepted_per_s"]["median"])
    s50=[];s99=[];cpu=[]
    for f in sorted(glob.glob(f"{base}/{who}/bidwire-fanout-*.json")):
        d=json.load(open(f)); s=d["summary"]
        s=s[0] if isinstance(s,list) else s
        s50.append(s["stale p50 ms"]["median"]); s99.append(s["stale p99 ms"]["median"])
        c=s.get("server cpu"); cpu.append((c["median"] if isinstance(c,dict) else c))
    print(f"{who}: n={len(acc20)} committed/s@20k {fmt(acc20)} | ack p50@1k {fmt(p50_1)} p99@1k {fmt(p99_1)} | fanout1000 stale p50 {fmt(s50)} p99 {fmt(s99)} cpu {fmt(cpu)}")

def series(who, pattern, pick):
    out=[]
    for f in sorted(glob.glob(f"{base}/{who}/{pattern}")):
        out.append(pick(json.load(open(f))))
    return out
c_old=series("old","contention-*.json",lambda d:[r for r in d["summary"] if r["rate"]==20000][0]["accepted_per_s"]["median"])
c_new=series("new","contention-*.json",lambda d:[r for r in d["summary"] if r["rate"]==20000][0]["accepted_per_s"]["median"])
f_old=series("old","bidwire-fanout-*.json",lambda d:d["summary"]["stale p50 ms"]["median"])
f_new=series("new","bidwire-fanout-*.json",lambda d:d["summary"]["stale p50 ms"]["median"])
print("per pair new/old committed@20k", fmt([n/o for n,o in zip(c_new,c_old)]))
print("per pair new/old fanout stale p50", fmt([n/o for n,o in zip(f_new,f_old)]))
