"""Runs and searches in MLflow, offline-first.

The run directory stays the source of truth. A tracked run reports from a background thread
(:mod:`annctl.tracking.live`), so a server that is away, slow or dying never stops or slows the training; what
did not reach the server is uploaded later by `annctl runs sync` (:mod:`annctl.tracking.sync`), which matches a
run already in MLflow by its ``annctl.run_id`` tag and completes it instead of duplicating it. What a run sends
is decided in one place (:mod:`annctl.tracking.content`) and sent by one idempotent function
(:mod:`annctl.tracking.upload`). MLflow is an optional extra: nothing here imports it at module level.
"""
