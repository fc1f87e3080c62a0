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
rows are split once more, by whole `(source, group)`: per source, groups taken in a seeded order (FNV-1a
of seed, source and group, `src/split.rs`) until ~20% of the source's rows are in validation. Each peer
is fitted on the remaining ~80%, scores the validation rows, its thresholds are chosen there by saring's
rule (`src/train/thresholds.rs`: reject at the lowest log-odds ≥ 0 that rejects at most 0.5% of
validation ham pooled and 1% of any one source's; accept below the lowest spam score whose hold band
stays within 15% of all validation rows), and then that same fitted model scores the test fold. The
peers thus learn from the very rows saring's fold model learnt from. With `--f1-full-fit` a second copy
of each peer is fitted on all of the fold's training rows and the F1 column comes from it (the rates
still from the thresholded model), for a bar that gives the peers the extra 20% of data.

Everything is deterministic: the split is seeded, the vectorizers are deterministic, liblinear gets
random_state=0, and rows are kept in file order.

Usage: run.sh [--json] [--char char_wb|char] [--f1-full-fit] [--scores-out FILE] FOLDS.jsonl [...]
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
VALIDATION_FRACTION = 0.2
SEED = 0
MAX_HAM_REJECTED = 0.005
MAX_HAM_REJECTED_PER_SOURCE = 0.01
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


def train_validation(rows, fraction=VALIDATION_FRACTION, seed=SEED):
    """Which of `rows` are validation (src/split.rs `train_validation`).

    Per source, groups in seeded order go to validation until it holds `fraction` of the source's rows;
    a group is never cut, a single-group source stays in training, validation never takes every group.
    """
    sizes = defaultdict(lambda: defaultdict(int))
    for r in rows:
        sizes[r["source"]][r["group"]] += 1
    chosen = set()
    for source, groups in sizes.items():
        total = sum(groups.values())
        target = math.floor(fraction * total + 0.5)  # Rust's f64::round: half away from zero
        order = sorted(groups.items(), key=lambda g: seeded_key(seed, source, g[0]))
        taken = 0
        for i, (group, n) in enumerate(order):
            if taken >= target or i + 1 == len(order):
                break
            chosen.add((source, group))
            taken += n
    return np.array([(r["source"], r["group"]) in chosen for r in rows], dtype=bool)


def _reject_threshold(log_odds, is_ham, max_share):
    ham = np.sort(log_odds[is_ham])[::-1]
    allowed = math.floor(max_share * len(ham))
    if allowed < len(ham):
        return max(float(np.nextafter(ham[allowed], np.inf)), 0.0)
    # Fewer ham than the allowance (or none): stay at even odds.
    return 0.0


def choose_thresholds(log_odds, labels, strata):
    """(accept_below, reject_at) by saring's rule (src/train/thresholds.rs `choose`)."""
    log_odds = np.asarray(log_odds, dtype=np.float64)
    is_ham = np.asarray(labels) == 0
    reject_at = _reject_threshold(log_odds, is_ham, MAX_HAM_REJECTED)
    strata = np.asarray(strata)
    for k in np.unique(strata):
        m = strata == k
        reject_at = max(reject_at, _reject_threshold(log_odds[m], is_ham[m], MAX_HAM_REJECTED_PER_SOURCE))
    all_sorted = np.sort(log_odds)
    below_reject = int(np.searchsorted(all_sorted, reject_at, side="left"))
    budget = math.floor(MAX_HOLD_RATE * len(log_odds))
    spam_below = np.sort(log_odds[(~is_ham) & (log_odds < reject_at)])
    # Lowest spam score first: the first whose hold band fits the budget catches the most spam.
    held = below_reject - np.searchsorted(all_sorted, spam_below, side="left")
    fits = np.nonzero(held <= budget)[0]
    accept_below = float(spam_below[fits[0]]) if len(fits) else reject_at
    return accept_below, reject_at


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
    f1_scores = {}
    for m in MODELS[1:]:
        scores[m] = np.full(n, np.nan)
        decisions[m] = np.full(n, -1)
        if args.f1_full_fit:
            f1_scores[m] = np.full(n, np.nan)
    fold_info = []
    for k in sorted(set(folds.tolist())):
        test = np.nonzero(folds == k)[0]
        train = np.nonzero(folds != k)[0]
        if len(train) == 0:
            sys.exit(f"fold {k} has no training rows")
        is_val = train_validation([rows[i] for i in train], args.validation_fraction, args.seed)
        fit_idx, val_idx = train[~is_val], train[is_val]
        if len(val_idx) == 0:
            sys.exit(f"fold {k}: the inner validation split is empty (too few groups per source)")
        info = {"fold": k, "train_rows": int(len(train)), "fit_rows": int(len(fit_idx)),
                "validation_rows": int(len(val_idx)), "test_rows": int(len(test)), "thresholds": {}}
        for peer in make_peers(args):
            t0 = time.time()
            peer.fit([texts[i] for i in fit_idx], labels[fit_idx])
            val_scores = peer.log_odds([texts[i] for i in val_idx])
            accept_below, reject_at = choose_thresholds(val_scores, labels[val_idx], strata[val_idx])
            s = peer.log_odds([texts[i] for i in test])
            scores[peer.name][test] = s
            decisions[peer.name][test] = decide(s, accept_below, reject_at)
            info["thresholds"][peer.name] = {"accept_below": accept_below, "reject_at": reject_at}
            if args.f1_full_fit:
                full = type(peer)(args.char) if peer.name == "lr" else type(peer)()
                full.fit([texts[i] for i in train], labels[train])
                f1_scores[peer.name][test] = full.log_odds([texts[i] for i in test])
            log(f"  fold {k}: {peer.name} fitted on {len(fit_idx)} rows, thresholds "
                f"[{accept_below:.3f}, {reject_at:.3f}), {time.time() - t0:.1f}s")
        fold_info.append(info)
    return labels, strata, sources, scores, decisions, f1_scores, fold_info


def make_peers(args):
    return [p for p in (LrPeer(args.char), NbPeer()) if p.name in args.models]


def summarise(labels, strata, sources, scores, decisions, f1_scores, models):
    out = OrderedDict()
    groups = [(s, strata == i) for i, s in enumerate(sources)] + [("pooled", np.ones(len(labels), bool))]
    for name, m in groups:
        out[name] = OrderedDict()
        for model in models:
            r = report(labels[m], scores[model][m], decisions[model][m])
            if model in f1_scores:
                r["f1_inner_fit"] = r["f1"]
                r["f1"] = report(labels[m], f1_scores[model][m], decisions[model][m])["f1"]
            out[name][model] = r
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
    p.add_argument("--f1-full-fit", action="store_true",
                   help="take the peers' F1 from a second fit on all of a fold's training rows")
    p.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION)
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
                           "validation_fraction": args.validation_fraction, "seed": args.seed,
                           "f1_full_fit": args.f1_full_fit},
              "files": []}
    scores_out = open(args.scores_out, "w", encoding="utf-8") if args.scores_out else None
    for path in args.folds:
        for scheme, rows in read_folds(path).items():
            log(f"{path}: scheme {scheme}, {len(rows)} rows")
            labels, strata, sources, scores, decisions, f1s, fold_info = evaluate(rows, args, log)
            summary = summarise(labels, strata, sources, scores, decisions, f1s, models)
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
