"""Dump answerability features for gold questions: python /tmp/feat.py OUT.jsonl GOLD..."""
import json, math, sys, re
from pathlib import Path
import numpy as np
from retriever.search import open_searcher, Searcher
from retriever.segment import STOPWORDS
s = open_searcher(Path("/tmp/idx-lib"), seeds_dir=[Path("seeds"), Path("../shared/corpora/safety-sample")])
texts = [c.text.lower() for c in s.clauses]
N = len(texts)
big = "\n".join(texts)
dfc = {}
def df(w):
    if w not in dfc:
        dfc[w] = sum(1 for t in texts if w in t) if w in big else 0
    return dfc[w]
cap = {}
orig = Searcher._in_scope
def spy(self, analysis, dense, top_texts=()):
    r = orig(self, analysis, dense, top_texts)
    cap["rule"] = r; cap["best"] = float(dense.max()) if dense.size else 0.0
    cap["dense_sorted"] = sorted(dense.tolist(), reverse=True)[:5]
    cap["stating"] = [t.lower() for t in top_texts if analysis.intent.amount is not None and analysis.intent.amount.search(t)]
    cap["tops"] = [t.lower() for t in top_texts]
    return r
Searcher._in_scope = spy
og = s.candidates.gather
def gspy(query, n):
    f = og(query, n)
    cap["bm25"] = sorted(f.bm25.tolist(), reverse=True)[:10]
    cap["dense10"] = sorted(f.dense.tolist(), reverse=True)[:10]
    cap["idfsum"] = float(sum(s.lexical_idf.get(t, 0.0) for t in query.tokens)) if hasattr(s, "lexical_idf") else 0.0
    return f
s.candidates.gather = gspy
out = open(sys.argv[1], "w")
for path in sys.argv[2:]:
    for line in open(path, encoding="utf-8"):
        g = json.loads(line); cap.clear()
        a = s.search(g["query"], k=10)
        an = s.analyze(g["query"])
        words = [w.lower() for w in an.words if w.lower() not in STOPWORDS and re.search(r"[\w]", w) and not re.fullmatch(r"\d+", w)]
        top = [h.clause for h in a.hits[:5]]
        arts = ["".join(c.text for c in s.article(h.id)).lower() for h in top]
        rec = dict(qid=g["qid"], query=g["query"], oos=not g["relevant"], tags=g.get("tags", []),
                   final=a.in_scope, route=a.route, rule=cap.get("rule"), best=cap.get("best"),
                   dense=cap.get("dense_sorted"), words=words,
                   df=[df(w) for w in words],
                   freq=[int(s.segmenter._tokenizer.FREQ.get(w, 0) or 0) for w in words],
                   in1=[w in arts[0] for w in words] if arts else [],
                   in5=[any(w in t for t in arts) for w in words],
                   intent={k: (v if isinstance(v, bool) else v is not None) for k, v in an.intent.__dict__.items()},
                   departments=len(an.departments), expansions=len(an.expansions),
                   docs=len(an.mention.documents), unknown=len(an.mention.unknown_names),
                   citation=an.citation is not None, score=[h.score for h in a.hits[:5]],
                   hits=[h.clause.id for h in a.hits[:3]], N=N,
                   stat=[[w in t for w in words] for t in cap.get("stating", [])],
                   bm25=cap.get("bm25"), dense10=cap.get("dense10"),
                   intop=[[w in t for w in words] for t in cap.get("tops", [])])
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
