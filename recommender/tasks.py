"""Celery's autodiscovery imports ``<app>.tasks``: this module only gathers the recommender's
sub-packages' tasks so the worker registers them (their names are the contract, not paths)."""

from recommender.engines.tasks import (  # noqa: F401
    reap_stale_runs_task,
    train_all_task,
    train_engine_task,
)
from recommender.evaluation.tasks import (  # noqa: F401
    evaluate_engines_task,
    reap_stale_evaluations_task,
)
from recommender.personal.tasks import (  # noqa: F401
    refresh_all_user_recommendations_task,
    refresh_user_recommendations_batch_task,
    refresh_user_recommendations_task,
)
