import json, math, sys, re
import numpy as np
from common import FRAME, fit, prob
def load(p): return [json.loads(l) for l in open(p)]
def feats(r):
    N = r["N"]
    eng = not re.search(r"[\u4e00-\u9fff]", r["query"])
    keep = [i for i, w in enumerate(r["words"]) if w not in FRAME and len(w) > 1]
    idf = [math.log((N + 1) / (r["df"][i] + 1)) for i in keep]
    tot = sum(idf) or 1.0
    c1 = sum(x for x, i in zip(idf, keep) if r["in1"][i]) / tot if keep else 1.0
    c5 = sum(x for x, i in zip(idf, keep) if r["in5"][i]) / tot if keep else 1.0
    unk = sum(1 for i in keep if r["df"][i] == 0 and r["freq"][i] > 0 and r["freq"][i] < 2000)
    unk_hi = sum(1 for i in keep if r["df"][i] == 0 and r["freq"][i] > 2000 + 0)
    d = (r["dense10"] or [0] * 10) + [0] * 10
    b = (r["bm25"] or [0] * 10) + [0] * 10
    it = r["intent"]
    if eng: c1, c5, unk, unk_hi = 1.0, 1.0, 0, 0
    return [1.0, d[0], d[0] - np.mean(d[:10]), np.std(d[:10]), math.log1p(b[0]), b[0] / (b[4] + 1e-6) if b[4] else 3.0,
            c1, c5, min(unk, 3), min(unk_hi, 3), float(eng), float(it["who"]), float(it["quantity"]), float(it["domain"]),
            float(r["departments"] > 0), float(r["docs"] > 0), (r["score"] or [0])[0], min(r["expansions"], 3), len(keep)]
NAMES = "bias d0 dgap dstd lb0 bratio c1 c5 unk unkhi eng who qty domain dept docs top exp nwords".split()
def data(recs):
    recs = [r for r in recs if r["route"] == "search" and r["final"]]
    return recs, np.array([feats(r) for r in recs]), np.array([0.0 if r["oos"] else 1.0 for r in recs])
dev = load("/tmp/feat_dev.jsonl")
def alldata(recs):
    recs = [r for r in recs if r["route"] == "search" and r["best"] is not None]
    return recs, np.array([feats(r) for r in recs]), np.array([0.0 if r["oos"] else 1.0 for r in recs])
ar, AX, Ay = alldata(dev)
dr, DX, Dy = data(dev)
l2 = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
m = fit(AX, Ay, l2)
print({n: round(float(v), 2) for n, v in zip(NAMES, m[0])})
# 10-fold CV on dev
rng = np.random.default_rng(0); folds = rng.integers(0, 10, len(dr)); cv = np.zeros(len(dr))
aq = [r["qid"] for r in ar]; afold = {q: hash(q) % 10 for q in aq}
for k in range(10):
    tr = np.array([afold[q] != k for q in aq]); mk = fit(AX[tr], Ay[tr], l2)
    te = np.array([afold[r["qid"]] == k for r in dr]); cv[te] = prob(mk, DX[te])
n_in = sum(not r["oos"] for r in dev); n_out = sum(r["oos"] for r in dev); base = sum(r["oos"] and not r["final"] for r in dev)
held = load(sys.argv[1]); hr, HX, Hy = data(held); ph = prob(m, HX)
hi = sum(not r["oos"] for r in held); ho = sum(r["oos"] for r in held); hb = sum(r["oos"] and not r["final"] for r in held)
for t in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]:
    f = sum(1 for r, p in zip(dr, cv) if p < t and not r["oos"]); c = sum(1 for r, p in zip(dr, cv) if p < t and r["oos"])
    f2 = sum(1 for r, p in zip(hr, ph) if p < t and not r["oos"]); c2 = sum(1 for r, p in zip(hr, ph) if p < t and r["oos"])
    print(f"t={t}: devCV flagged +{f}/{n_in} OOS {base}+{c}/{n_out} | held flagged +{f2}/{hi} OOS {hb}+{c2}/{ho}")
