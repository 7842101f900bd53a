"""Small engine settings for tests that check wiring, not quality (seconds, not minutes)."""

FAST_ENGINE_PARAMS = {
    "watchlist_nn": {"epochs": 8, "hidden": 64},
    "knn_baseline": {},
    "hybrid": {
        "nn_params": {"epochs": 6, "hidden": 32, "batch_size": 64},
        "als_params": {"factors": 16, "iterations": 5},
        "candidates": 40,
        "n_estimators": 40,
        "min_child_samples": 20,
    },
}
