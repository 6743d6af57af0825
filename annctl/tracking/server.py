"""The tracking server: is MLflow installed, which URI, a client that fails fast, the experiment.

A run must never wait on a server that is away: the client's HTTP retries are cut to one quick retry and its
timeout to seconds (a user's own $MLFLOW_HTTP_REQUEST_* settings win); what fails is left for `runs sync`.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from annctl.errors import UsageError

INSTALL = "pip install 'annctl[mlflow]'"
# MLflow's defaults retry a failed request 7 times with exponential backoff (minutes on a dead server), and
# its client prints each finished run's address on stdout, where `annctl train -q` prints only the run directory
CLIENT_SETTINGS = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


class TrackingUnavailable(Exception):
    """The server could not be reached or refused a request (never shown as a traceback)."""


def require_mlflow(what: str = "tracking.mlflow") -> None:
    """Exit 2 with the install command when MLflow is not installed (checked before any training starts)."""
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except ImportError:  # a broken or blocked install
        found = False
    if not found:
        raise UsageError(f"{what}: MLflow is not installed; install it with: {INSTALL}")


def tracking_uri(given: str | None, what: str = "tracking.mlflow.uri") -> str:
    """The URI given, else $MLFLOW_TRACKING_URI (MLflow's own convention); exit 2 when there is neither."""
    uri = given or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UsageError(
            f"{what}: no tracking server given; set it in the experiment, with --set tracking.mlflow.uri=URI, "
            "or in $MLFLOW_TRACKING_URI"
        )
    return uri


def redact(uri: str) -> str:
    """The URI without a password (kept in run directories and shown in messages)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(uri: str) -> Any:
    """An MlflowClient for ``uri`` that gives up quickly."""
    for key, value in CLIENT_SETTINGS.items():
        os.environ.setdefault(key, value)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: Any, name: str) -> str:
    """The id of experiment ``name``, created when missing (another process may create it at the same time)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise TrackingUnavailable(f"MLflow experiment {name!r} is deleted; restore it or choose another name")
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def describe(error: BaseException) -> str:
    """One line for a failure to reach or use the server."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if "Max retries exceeded" in first or "Connection refused" in str(error):
        first = "connection refused"
    return f"{type(error).__name__}: {first[:200]}"
