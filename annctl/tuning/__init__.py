"""`annctl tune`: randomized hyperparameter search with Optuna, every trial a complete run in a warm worker process.

space.py (the `search:` section, no Optuna), study.py (storage, sampler, pruner), runner.py (the search and its
worker threads), workers.py (the tune process's handle on a worker), worker.py (the worker process), trial.py
(one trial inside it), outputs.py (leaderboard, best.yaml, summary), hparams.py (TensorBoard's HParams view).
"""
