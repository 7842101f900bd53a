"""Fast loop for tuning the hybrid's ranker: the components are fitted once per split.

    .venv/bin/python bench/hybrid_dev.py --data ../shared/data --cache /tmp/hdev \\
        [KEY=JSON ...]

``fit`` fits the components twice (on the validation split of the training rows, then
on all of them), minutes on 2 cores; ranker settings only change what comes after. This
pickles both component sets under ``--cache`` (dev only: the artifact format stays
pickle-free), then trains the ranker with the HybridRanker settings given as KEY=JSON
(e.g. ``num_leaves=15 link_features=true``) exactly as ``fit`` does and prints its
validation NDCG@10 (what to decide on) next to the offline protocol's test figures
(``split_topn`` seed 1, as ``bench/offline_eval.py``; report them, do not tune on them).
One JSON line per run is appended to ``--cache``/log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from recommender.ml import hybrid as H  # noqa: E402
from recommender.ml.data import load_ratings, split_topn  # noqa: E402
from recommender.ml.evaluation import hybrid_model  # noqa: E402
from recommender.ml.metrics import topn_metrics  # noqa: E402


def _components(path: Path, model: H.HybridRanker, rows) -> H.Components:
    if path.exists():
        return pickle.loads(path.read_bytes())
    t = time.perf_counter()
    comp = model._fit_components(rows)
    print(f"{path.stem}: fitted in {time.perf_counter() - t:.0f} s", flush=True)
    path.write_bytes(pickle.dumps(comp, protocol=5))
    return comp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("settings", nargs="*", help="HybridRanker attribute=JSON value")
    args = parser.parse_args(argv)
    settings = {k: json.loads(v) for k, v in (a.split("=", 1) for a in args.settings)}

    args.cache.mkdir(parents=True, exist_ok=True)
    train, test = split_topn(load_ratings(args.data), seed=1)
    x = train.matrix("score").astype(np.float32)
    x.eliminate_zeros()
    model = hybrid_model(seed=0)
    for k, v in settings.items():
        if not hasattr(model, k):
            raise SystemExit(f"HybridRanker has no setting {k!r}")
        setattr(model, k, v)
    model.n_items = x.shape[1]
    fit_rows, held = H.holdout_positives(x, model.validation_fraction, seed=model.validation_seed)
    comp_val = _components(args.cache / f"val_seed{model.validation_seed}.pkl", model, fit_rows)
    comp_all = _components(args.cache / "all.pkl", model, x)

    t = time.perf_counter()
    model._fit_ranker(comp_val, fit_rows, held)
    ranker_s = time.perf_counter() - t
    model.components = comp_all
    users = np.array(sorted(test), dtype=np.int64)
    recs, _ = model.recommend(x[users], 20)
    test_m = topn_metrics(recs, [test[int(u)] for u in users], x.shape[1])
    ease_recs = model.components.ease.recommend(x[users], 10)[0]
    ease_ndcg = topn_metrics(ease_recs, [test[int(u)] for u in users], x.shape[1], (10,))
    val = model.validation_["metrics"]
    line = {
        "settings": settings,
        "best_iteration": model.validation_["best_iteration"],
        "val_ndcg@10": {k: round(v["ndcg@10"], 4) for k, v in val.items()},
        "test_ndcg@10": round(test_m["ndcg@10"], 4),
        "test_recall@10": round(test_m["recall@10"], 4),
        "test_coverage@10": round(test_m["coverage@10"], 4),
        "test_ease_ndcg@10": round(ease_ndcg["ndcg@10"], 4),
        "ranker_fit_s": round(ranker_s, 1),
    }
    print(json.dumps(line), flush=True)
    with open(args.cache / "log.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
