import json, math, sys, re
import numpy as np
FRAME = set("啥 什么 是不是 多久 多少 几 哪能 怎么办 咋 咋办 怎么 一般 到底 必须 规定 法律 吗 呢 能不能 可不可以 有没有 哪里 哪儿 去哪 找谁 谁来 咋整 具体 现在 目前 算 需不需要 要不要 得 多长时间 几天 几年 多大 多远 多高 第一步 干啥 做啥 说 讲 内容 意思 里 条".split())
def load(p): return [json.loads(l) for l in open(p)]
def feats(r):
    N = r["N"]
    eng = not re.search(r"[\u4e00-\u9fff]", r["query"])
    keep = [i for i, w in enumerate(r["words"]) if w not in FRAME]
    idf = [math.log((N + 1) / (r["df"][i] + 1)) for i in keep]
    tot = sum(idf) or 1.0
    c1 = sum(x for x, i in zip(idf, keep) if r["in1"][i]) / tot if keep else 1.0
    c5 = sum(x for x, i in zip(idf, keep) if r["in5"][i]) / tot if keep else 1.0
    oov = sum(1 for i in keep if r["df"][i] == 0)
    d = (r["dense"] or [0, 0]) + [0, 0]
    it = r["intent"]
    if eng: c1, c5, oov = 1.0, 1.0, 0
    return [1.0, r["best"] or 0, d[0] - d[1], c1, c5, min(oov, 3), float(eng), float(it["who"]),
            float(it["quantity"]), float(it["domain"]), float(r["departments"] > 0), float(r["docs"] > 0),
            (r["score"] or [0])[0], min(r["expansions"], 3)]
NAMES = "bias best gap c1 c5 oov eng who qty domain dept docs top exp".split()
def data(recs):
    recs = [r for r in recs if r["route"] == "search" and r["rule"]]
    X = np.array([feats(r) for r in recs]); y = np.array([0.0 if r["oos"] else 1.0 for r in recs])
    return recs, X, y
def fit(X, y, l2=1.0):
    w = np.zeros(X.shape[1]); P = l2 * np.eye(X.shape[1]); P[0, 0] = 0
    mu, sd = X[:, 1:].mean(0), X[:, 1:].std(0) + 1e-9
    Z = np.hstack([X[:, :1], (X[:, 1:] - mu) / sd])
    for _ in range(100):
        p = 1 / (1 + np.exp(-Z @ w)); g = Z.T @ (p - y) + P @ w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + P
        w -= np.linalg.solve(H, g)
    return w, mu, sd
def prob(m, X):
    w, mu, sd = m; Z = np.hstack([X[:, :1], (X[:, 1:] - mu) / sd]); return 1 / (1 + np.exp(-Z @ w))
dev = load("/tmp/feat_dev.jsonl"); held = load(sys.argv[1]) if len(sys.argv) > 1 else []
dr, DX, Dy = data(dev)
m = fit(DX, Dy)
print({n: round(v, 2) for n, v in zip(NAMES, m[0])})
# all dev in-scope/out counts incl. those already OOS by rule
n_in = sum(not r["oos"] for r in dev); n_out = sum(r["oos"] for r in dev)
pd_ = prob(m, DX)
for t in [0.2, 0.3, 0.4, 0.5, 0.6]:
    flag = sum(1 for r, p in zip(dr, pd_) if p < t and not r["oos"]); caught = sum(1 for r, p in zip(dr, pd_) if p < t and r["oos"])
    line = f"t={t}: dev extra flagged {flag}/{n_in}, extra OOS caught {caught}/{n_out}"
    if held:
        hr, HX, Hy = data(held); ph = prob(m, HX)
        hi = sum(not r["oos"] for r in held); ho = sum(r["oos"] for r in held)
        base = sum(1 for r in held if r["oos"] and not r["final"])
        f2 = sum(1 for r, p in zip(hr, ph) if p < t and not r["oos"]); c2 = sum(1 for r, p in zip(hr, ph) if p < t and r["oos"])
        line += f" | held: extra flagged {f2}/{hi}, OOS {base}+{c2}/{ho}"
    print(line)
