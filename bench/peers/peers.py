#!/usr/bin/env python3
"""saring against the scikit-learn models an engineer would try first, on saring's own folds.

What it measures
----------------
`saring cv --folds-out FILE` writes one JSON object per corpus row: which scheme and fold the row was
held out in, its source, group, label and text, and saring's held-out log-odds and decision. This
script trains two peers on exactly those folds (train on the scheme's rows with `fold != k`, score the
rows with `fold == k`) and prints, per source and pooled, four figures for saring and each peer:

- **F1** of the spam class at probability 0.5 (log-odds > 0; a tie goes to ham, as in saring);
- **ham rejected**: share of ham whose decision is REJECT;
- **spam accepted**: share of spam whose decision is ACCEPT;
- **hold**: share of all rows whose decision is HOLD.

The peers:

- **LR**: a FeatureUnion of two TfidfVectorizers — words 1–2-grams and `char_wb` 2–5-grams (`--char
  char` for n-grams across word boundaries) — and LogisticRegression(C=10, class_weight='balanced').
  Solver liblinear: it solves this sparse, high-dimensional, weakly regularised problem (~10^6 columns,
  C=10) to tolerance in seconds and is deterministic; saga would need many passes at C=10 to reach the
  same optimum, and lbfgs is slower on it. `max_iter` is raised so it converges rather than warns.
- **NB**: CountVectorizer word 1–2-grams and MultinomialNB() with its default alpha=1 — the first thing
  an engineer tries.

How decisions are made (the same protocol saring follows in each fold)
----------------------------------------------------------------------
A peer needs two thresholds on its log-odds (accept below, reject at or above), and they must be chosen
on rows it was not trained on. So, exactly as `saring train` does inside each fold, the fold's training
rows are split once more into 5 inner folds by whole `(source, group)` (`src/train/split.rs`
`k_folds`: per source, groups largest first, ties in a seeded FNV-1a order, each into the inner fold
holding the fewest of that source's rows). The peer is fitted on four inner folds and scores the fifth,
five times, so every training row gets an out-of-fold score; the thresholds are chosen on those scores
by saring's rule (`src/train/thresholds.rs`, ported below: 0.5% of ham rejected per source and pooled,
relaxed per source up to 1%; 5% of spam accepted and 15% held, per source if possible, else pooled,
else both overrun alike). The peer is then fitted on all of the fold's training rows, and that model
scores the test fold: its F1 and, at those thresholds, its three rates. The peers thus learn from the
very rows saring's fold model learnt from, under the same rule.

Everything is deterministic: the split is seeded, the vectorizers are deterministic, liblinear gets
random_state=0, and rows are kept in file order.

Usage: run.sh [--json] [--char char_wb|char] [--inner-folds K] [--scores-out FILE] FOLDS.jsonl [...]
"""

import argparse
import json
import math
import os
import sys
import time

# One BLAS thread: the work here is sparse, and BLAS threads fighting over two cores only slow it down.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections import OrderedDict, defaultdict

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion

# saring's defaults (src/train.rs, src/train/thresholds.rs).
INNER_FOLDS = 5
SEED = 0
MAX_HAM_REJECTED = 0.005
MAX_HAM_REJECTED_PER_SOURCE = 0.005
HARD_HAM_REJECTED_PER_SOURCE = 0.01
MAX_SPAM_ACCEPTED = 0.05
MAX_HOLD_RATE = 0.15

MODELS = ("saring", "lr", "nb")
LABEL = {"ham": 0, "spam": 1}
ACCEPT, HOLD, REJECT = 0, 1, 2
DECISION = {"accept": ACCEPT, "hold": HOLD, "reject": REJECT}


# ---------------------------------------------------------------------------------------------------
# saring's split and threshold rule, ported line by line so the peers are held to the same procedure.


def stable_hash(data: bytes) -> int:
    """FNV-1a, 64 bit (src/corpus.rs `stable_hash`)."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def seeded_key(seed: int, source: str, group: str) -> int:
    return stable_hash(seed.to_bytes(8, "little") + source.encode() + b"\0" + group.encode())


def k_folds(rows, k=INNER_FOLDS, seed=SEED):
    """Each row's fold (src/train/split.rs `k_folds`).

    Per source, groups are placed largest first (ties in seeded order) into the fold holding the fewest
    rows of that source (ties to the lowest fold), so a group is never split.
    """
    sizes = defaultdict(lambda: defaultdict(int))
    for r in rows:
        sizes[r["source"]][r["group"]] += 1
    fold_of = {}
    for source, groups in sizes.items():
        order = sorted(groups.items(), key=lambda g: (-g[1], seeded_key(seed, source, g[0])))
        load = [0] * k
        for group, n in order:
            fold = min(range(k), key=lambda i: (load[i], i))
            load[fold] += n
            fold_of[(source, group)] = fold
    return np.array([fold_of[(r["source"], r["group"])] for r in rows])


def _reject_at(log_odds, is_ham, strata, pooled_share, source_share):
    """The lowest reject_at >= 0 rejecting at most `pooled_share` of all ham and `source_share` of each
    source's (src/train/thresholds.rs `Strata::reject_at`)."""
    reject_at = 0.0
    groups = [np.ones(len(log_odds), bool)] + [strata == k for k in np.unique(strata)]
    shares = [pooled_share] + [source_share] * (len(groups) - 1)
    for m, share in zip(groups, shares):
        ham = np.sort(log_odds[m & is_ham])[::-1]
        allowed = math.floor(share * len(ham))
        # Fewer ham than the allowance (or none): nothing tells where ham ends, so stay at 0.
        if allowed < len(ham):
            reject_at = max(reject_at, float(np.nextafter(ham[allowed], np.inf)))
    return reject_at


def _groups(strata, pooled_only=False):
    """Row masks per source, then all rows: the strata a bound is checked in (only the last with
    `pooled_only`)."""
    everything = [np.ones(len(strata), bool)]
    return everything if pooled_only else [strata == k for k in np.unique(strata)] + everything


def _rates(log_odds, is_ham, m, accept_below, reject_at):
    """(ham rejected, spam accepted, hold) among the rows of mask `m`."""
    d = decide(log_odds[m], accept_below, reject_at)
    ham, spam = is_ham[m], ~is_ham[m]
    share = lambda a, b: float(a) / float(b) if b else 0.0
    return (share(np.sum(ham & (d == REJECT)), ham.sum()), share(np.sum(spam & (d == ACCEPT)), spam.sum()),
            share(np.sum(d == HOLD), len(d)))


def _accept_below(log_odds, is_ham, strata, reject_at, pooled_only):
    """The lowest spam score below reject_at at which no stratum holds more than MAX_HOLD_RATE of its
    rows; reject_at if none (src/train/thresholds.rs `Strata::accept_below`)."""
    groups = _groups(strata, pooled_only)
    budgets = [math.floor(MAX_HOLD_RATE * m.sum()) for m in groups]
    for c in np.unique(log_odds[(~is_ham) & (log_odds < reject_at)]):
        held = (log_odds >= c) & (log_odds < reject_at)
        if all(np.sum(held & m) <= b for m, b in zip(groups, budgets)):
            return float(c)
    return reject_at


def _balanced_accept_below(log_odds, is_ham, reject_at):
    """accept_below where the worse of pooled spam accepted / MAX_SPAM_ACCEPTED and pooled hold /
    MAX_HOLD_RATE is smallest; ties to the lower score (`Strata::balanced_accept_below`)."""
    best = (math.inf, reject_at)
    everything = np.ones(len(log_odds), bool)
    for c in list(np.unique(log_odds[log_odds < reject_at])) + [reject_at]:
        _, spam_acc, hold = _rates(log_odds, is_ham, everything, c, reject_at)
        worst = max(spam_acc / MAX_SPAM_ACCEPTED, hold / MAX_HOLD_RATE)
        if worst < best[0]:
            best = (worst, float(c))
    return best[1]


def choose_thresholds(log_odds, labels, strata):
    """(accept_below, reject_at) by saring's rule (src/train/thresholds.rs `choose`): all three bounds
    per source; else the per-source ham limit relaxed to its hard limit; else spam accepted and hold
    kept over all sources together; else the two overrun together."""
    log_odds = np.asarray(log_odds, dtype=np.float64)
    is_ham = np.asarray(labels) == 0
    strata = np.asarray(strata)

    def fits(a, r, pooled_only):
        for m in _groups(strata, pooled_only):
            _, spam_acc, hold = _rates(log_odds, is_ham, m, a, r)
            if spam_acc > MAX_SPAM_ACCEPTED or hold > MAX_HOLD_RATE:
                return False
        return True

    hard = max(HARD_HAM_REJECTED_PER_SOURCE, MAX_HAM_REJECTED_PER_SOURCE)
    for ham, pooled_only in [(MAX_HAM_REJECTED_PER_SOURCE, False), (hard, False),
                             (MAX_HAM_REJECTED_PER_SOURCE, True), (hard, True)]:
        r = _reject_at(log_odds, is_ham, strata, MAX_HAM_REJECTED, ham)
        a = _accept_below(log_odds, is_ham, strata, r, pooled_only)
        if fits(a, r, pooled_only):
            return a, r
    r = _reject_at(log_odds, is_ham, strata, MAX_HAM_REJECTED, hard)
    return _balanced_accept_below(log_odds, is_ham, r), r


def decide(log_odds, accept_below, reject_at):
    log_odds = np.asarray(log_odds)
    return np.where(log_odds >= reject_at, REJECT, np.where(log_odds >= accept_below, HOLD, ACCEPT))


def report(labels, log_odds, decisions):
    """F1 at log-odds > 0 and the three rates (src/metrics.rs `report`)."""
    labels = np.asarray(labels)
    log_odds = np.asarray(log_odds)
    decisions = np.asarray(decisions)
    spam, ham = labels == 1, labels == 0
    predicted = log_odds > 0.0
    tp = int(np.sum(spam & predicted))
    fp = int(np.sum(ham & predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / spam.sum() if spam.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def share(num, den):
        return float(num) / float(den) if den else None

    return {
        "n": int(len(labels)),
        "spam": int(spam.sum()),
        "ham": int(ham.sum()),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "ham_rejected": share(np.sum(ham & (decisions == REJECT)), ham.sum()),
        "spam_accepted": share(np.sum(spam & (decisions == ACCEPT)), spam.sum()),
        "hold": share(np.sum(decisions == HOLD), len(labels)),
    }


# ---------------------------------------------------------------------------------------------------
# The peers. Each returns spam log-odds for the rows it is asked to score.


class LrPeer:
    name = "lr"

    def __init__(self, char_analyzer):
        self.char_analyzer = char_analyzer

    def fit(self, texts, y):
        self.vec = FeatureUnion(
            [
                ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2))),
                ("char", TfidfVectorizer(analyzer=self.char_analyzer, ngram_range=(2, 5))),
            ]
        )
        x = self.vec.fit_transform(texts)
        self.clf = LogisticRegression(
            C=10, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=0
        )
        self.clf.fit(x, y)
        return self

    def log_odds(self, texts):
        # decision_function is w·x + b, the log-odds of class 1 (spam).
        return self.clf.decision_function(self.vec.transform(texts))


class NbPeer:
    name = "nb"

    def fit(self, texts, y):
        self.vec = CountVectorizer(analyzer="word", ngram_range=(1, 2))
        self.clf = MultinomialNB()
        self.clf.fit(self.vec.fit_transform(texts), y)
        return self

    def log_odds(self, texts):
        jll = self.clf.predict_joint_log_proba(self.vec.transform(texts))
        spam = list(self.clf.classes_).index(1)
        return jll[:, spam] - jll[:, 1 - spam]


# ---------------------------------------------------------------------------------------------------


def read_folds(path):
    """Rows grouped by scheme, in file order."""
    by_scheme = OrderedDict()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            missing = {"scheme", "fold", "source", "group", "label", "text", "log_odds", "decision"} - r.keys()
            if missing:
                sys.exit(f"{path}:{n}: missing field(s) {sorted(missing)}")
            if r["label"] not in LABEL or r["decision"] not in DECISION:
                sys.exit(f"{path}:{n}: label must be spam|ham and decision accept|hold|reject")
            by_scheme.setdefault(r["scheme"], []).append(r)
    return by_scheme


def evaluate(rows, args, log):
    """Train and score the peers on every fold of one scheme; return per-row scores and fold info."""
    n = len(rows)
    labels = np.array([LABEL[r["label"]] for r in rows])
    texts = [r["text"] for r in rows]
    folds = np.array([int(r["fold"]) for r in rows])
    sources = sorted({r["source"] for r in rows})
    stratum_of = {s: i for i, s in enumerate(sources)}
    strata = np.array([stratum_of[r["source"]] for r in rows])

    scores = {"saring": np.array([float(r["log_odds"]) for r in rows])}
    decisions = {"saring": np.array([DECISION[r["decision"]] for r in rows])}
    for m in MODELS[1:]:
        scores[m] = np.full(n, np.nan)
        decisions[m] = np.full(n, -1)
    fold_info = []
    for k in sorted(set(folds.tolist())):
        test = np.nonzero(folds == k)[0]
        train = np.nonzero(folds != k)[0]
        if len(train) == 0:
            sys.exit(f"fold {k} has no training rows")
        inner = k_folds([rows[i] for i in train], args.inner_folds, args.seed)
        info = {"fold": k, "train_rows": int(len(train)), "test_rows": int(len(test)), "thresholds": {}}
        for peer_name in args.models:
            t0 = time.time()
            out_of_fold = np.full(len(train), np.nan)
            for j in sorted(set(inner.tolist())):
                fit_idx, held = train[inner != j], np.nonzero(inner == j)[0]
                peer = make_peer(peer_name, args).fit([texts[i] for i in fit_idx], labels[fit_idx])
                out_of_fold[held] = peer.log_odds([texts[train[i]] for i in held])
            accept_below, reject_at = choose_thresholds(out_of_fold, labels[train], strata[train])
            peer = make_peer(peer_name, args).fit([texts[i] for i in train], labels[train])
            s = peer.log_odds([texts[i] for i in test])
            scores[peer_name][test] = s
            decisions[peer_name][test] = decide(s, accept_below, reject_at)
            info["thresholds"][peer_name] = {"accept_below": accept_below, "reject_at": reject_at}
            log(f"  fold {k}: {peer_name} fitted on {len(train)} rows (and {len(set(inner.tolist()))} inner "
                f"folds), thresholds [{accept_below:.3f}, {reject_at:.3f}), {time.time() - t0:.1f}s")
        fold_info.append(info)
    return labels, strata, sources, scores, decisions, fold_info


def make_peer(name, args):
    return LrPeer(args.char) if name == "lr" else NbPeer()


def summarise(labels, strata, sources, scores, decisions, models):
    out = OrderedDict()
    groups = [(s, strata == i) for i, s in enumerate(sources)] + [("pooled", np.ones(len(labels), bool))]
    for name, m in groups:
        out[name] = OrderedDict()
        for model in models:
            out[name][model] = report(labels[m], scores[model][m], decisions[model][m])
    return out


def pct(x):
    return "    —" if x is None else f"{100 * x:5.2f}"


def print_table(title, summary, models, file=sys.stdout):
    print(f"\n{title}", file=file)
    head = f"{'source':<26}{'n':>6} "
    for m in models:
        head += f"| {m:<6} {'F1':>5} {'hamrej%':>7} {'spamacc%':>8} {'hold%':>6} "
    if "lr" in models and "saring" in models:
        head += "| ΔF1(saring−LR)"
    print(head, file=file)
    print("-" * len(head), file=file)
    for source, by_model in summary.items():
        line = f"{source:<26}{next(iter(by_model.values()))['n']:>6} "
        for m in models:
            r = by_model[m]
            line += f"| {'':<6} {r['f1']:.3f} {pct(r['ham_rejected']):>7} {pct(r['spam_accepted']):>8} {pct(r['hold']):>6} "
        if "lr" in models and "saring" in models:
            line += f"| {by_model['saring']['f1'] - by_model['lr']['f1']:+.3f}"
        print(line, file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folds", nargs="+", help="folds file(s) written by `saring cv --folds-out FILE`")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--char", choices=["char_wb", "char"], default="char_wb",
                   help="analyzer of the LR peer's character n-grams (default char_wb)")
    p.add_argument("--models", default="lr,nb", help="peers to run, comma-separated (default lr,nb)")
    p.add_argument("--inner-folds", type=int, default=INNER_FOLDS,
                   help="inner folds whose out-of-fold scores choose the thresholds (saring's --inner-folds)")
    p.add_argument("--seed", type=int, default=SEED, help="seed of the inner group split (saring's --seed)")
    p.add_argument("--scores-out", help="write each row's peer log-odds and decisions here (JSON Lines)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not set(args.models) <= {"lr", "nb"}:
        p.error("--models takes lr and/or nb")
    models = ["saring"] + args.models

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    result = {"settings": {"char_analyzer": args.char, "lr": "tfidf word(1,2) + tfidf " + args.char +
                           "(2,5), LogisticRegression(C=10, class_weight=balanced, solver=liblinear)",
                           "nb": "count word(1,2), MultinomialNB(alpha=1)",
                           "inner_folds": args.inner_folds, "seed": args.seed},
              "files": []}
    scores_out = open(args.scores_out, "w", encoding="utf-8") if args.scores_out else None
    for path in args.folds:
        for scheme, rows in read_folds(path).items():
            log(f"{path}: scheme {scheme}, {len(rows)} rows")
            labels, strata, sources, scores, decisions, fold_info = evaluate(rows, args, log)
            summary = summarise(labels, strata, sources, scores, decisions, models)
            result["files"].append({"path": path, "scheme": scheme, "folds": fold_info, "by_source": summary})
            if not args.json:
                print_table(f"{path} — {scheme}", summary, models)
            if scores_out:
                names = {v: k for k, v in DECISION.items()}
                for i, r in enumerate(rows):
                    out = {"scheme": scheme, "fold": r["fold"], "source": r["source"], "group": r["group"],
                           "label": r["label"]}
                    for m in args.models:
                        out[f"{m}_log_odds"] = float(scores[m][i])
                        out[f"{m}_decision"] = names[int(decisions[m][i])]
                    scores_out.write(json.dumps(out) + "\n")
    if scores_out:
        scores_out.close()
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
