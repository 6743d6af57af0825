"""`annctl tune`: randomized hyperparameter search with Optuna, every trial a complete run in its own process.

space.py (the `search:` section, no Optuna), study.py (storage, sampler, pruner, the worker loop),
trial.py (the child process that trains one trial), outputs.py (leaderboard, best.yaml, summary).
"""
