"""``bench optimize``: closed-loop fast-charge studies (search space, Optuna ask/tell study,
executors for processes, Dask and multi-channel benches, objectives, the study report)."""
