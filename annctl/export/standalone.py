"""Run an exported artifact with TensorFlow/Keras alone: the verification's second process.

annctl.export.verify runs this file's text with ``python -I -c`` (no PYTHONPATH, no user site, no current
folder on the path) and one argument, a job file. Before anything else it takes annctl out of reach — the
project's folder off sys.path, an editable install's import hooks out, and a finder that refuses `annctl`
— and records whether `import annctl` still works (it must not). Then it loads the artifact as a user would,
runs it on the job's inputs in batches and saves every output. This file imports nothing from annctl.
"""

import importlib.abc
import json
import os
import sys
import warnings


class _RefuseAnnctl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "annctl" or name.startswith("annctl."):
            raise ModuleNotFoundError(f"No module named {name!r} (annctl is kept out of this process)", name=name)
        return None


def isolate(project_root):
    root = os.path.realpath(project_root)
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != root]
    sys.meta_path[:] = [f for f in sys.meta_path if "annctl" not in str(getattr(f, "__module__", ""))]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "annctl" not in str(getattr(h, "__module__", ""))]
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, _RefuseAnnctl())
    try:
        import annctl  # noqa: F401
    except ImportError:
        return False
    return True


def batches(arrays, size):
    rows = len(next(iter(arrays.values())))
    for start in range(0, rows, size):
        yield {name: array[start : start + size] for name, array in arrays.items()}


def run_savedmodel(path, inputs, size):
    import tensorflow as tf

    function = tf.saved_model.load(path).signatures["serving_default"]
    for batch in batches(inputs, size):
        yield {name: value.numpy() for name, value in function(**{k: tf.constant(v) for k, v in batch.items()}).items()}


LOADERS = {
    "savedmodel": "tf.saved_model.load",
    "tflite": "tf.lite.Interpreter",
    "keras": "keras.saving.load_model (safe mode)",
}


def run_tflite(path, inputs, size):
    try:
        from ai_edge_litert.interpreter import Interpreter

        LOADERS["tflite"] = "ai_edge_litert.interpreter.Interpreter"
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - deprecated in favour of LiteRT, still shipped
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    for batch in batches(inputs, size):
        yield runner(**batch)


def run_keras(path, inputs, size):
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(path)  # safe mode, as a user loads it
    for batch in batches(inputs, size):
        fed = {k: tf.constant(v) for k, v in batch.items()}
        result = model(fed.pop("__single__") if "__single__" in fed else fed, training=False)
        named = result if isinstance(result, dict) else {"__single__": result}
        yield {name: keras.ops.convert_to_numpy(value) for name, value in named.items()}


def main(job_path):
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    importable = isolate(job["project_root"])
    warnings.filterwarnings("ignore")
    import numpy as np
    import tensorflow as tf

    with np.load(job["inputs"], allow_pickle=False) as archive:  # input_0, ... in the order of input_names
        inputs = {name: archive[f"input_{i}"] for i, name in enumerate(job["input_names"])}
    run = {"savedmodel": run_savedmodel, "tflite": run_tflite, "keras": run_keras}[job["format"]]
    pieces = {}
    for outputs in run(job["artifact"], inputs, job["batch_size"]):
        for name, value in outputs.items():
            value = np.asarray(value)
            if value.dtype.kind in "OS":
                value = np.char.decode(value.astype(bytes), "utf-8")
            pieces.setdefault(name, []).append(value)
    np.savez(job["outputs"], **{name: np.concatenate(parts) for name, parts in pieces.items()})
    report = {
        "annctl_importable": importable,
        "annctl_loaded": any(name == "annctl" or name.startswith("annctl.") for name in sys.modules),
        "loader": LOADERS[job["format"]],
        "tensorflow": tf.__version__,
    }
    with open(job["report"], "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(sys.argv[1])
