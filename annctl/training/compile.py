"""Spec names → Keras optimizer, loss and metric objects."""

from __future__ import annotations

from annctl.spec import TrainingSpec


def build_optimizer(training: TrainingSpec, schedule=None):
    """The optimizer; ``schedule`` (a Keras LearningRateSchedule) replaces the constant rate when given."""
    import keras

    rate = schedule if schedule is not None else training.learning_rate
    clipping = {
        name: getattr(training, name)
        for name in ("clipnorm", "clipvalue", "global_clipnorm")
        if getattr(training, name) is not None
    }
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=rate, momentum=training.momentum, nesterov=training.nesterov, **clipping
        )
    if training.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, momentum=training.momentum, **clipping)
    if training.optimizer == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=rate, **clipping)
    if training.optimizer == "adamw":
        decay = 0.004 if training.weight_decay is None else training.weight_decay
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=decay, **clipping)
    return keras.optimizers.Adam(learning_rate=rate, **clipping)


def build_loss(name: str):
    """A Keras loss name, or annctl's own loss function (`quadratic`, `perceptron`)."""
    if name in ("quadratic", "perceptron"):
        from annctl import losses

        return getattr(losses, name)
    return name


def build_metrics(names: list[str], loss: str, num_classes: int = 0) -> list:
    """Metric objects whose logged names are exactly the spec's names (`accuracy`, `rmse`, ...)."""
    import keras

    metrics = []
    for name in names:
        if name == "accuracy":
            if loss == "perceptron":  # scores: the Heaviside step decides at 0
                metrics.append(
                    keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
                    if num_classes == 2
                    else keras.metrics.CategoricalAccuracy(name="accuracy")
                )
            elif loss == "binary_crossentropy":
                metrics.append(keras.metrics.BinaryAccuracy(name="accuracy"))
            elif loss == "categorical_crossentropy":
                metrics.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
            else:
                metrics.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
        elif name == "auc":
            metrics.append(keras.metrics.AUC(name="auc"))
        elif name == "mae":
            metrics.append(keras.metrics.MeanAbsoluteError(name="mae"))
        elif name == "mse":
            metrics.append(keras.metrics.MeanSquaredError(name="mse"))
        elif name == "rmse":
            metrics.append(keras.metrics.RootMeanSquaredError(name="rmse"))
    return metrics


def encode_targets(y, loss: str | None, num_classes: int):
    """Labels in the form the loss expects: one-hot for categorical, a float column for binary. Works on NumPy
    arrays and on tensors inside a tf.data pipeline."""
    import keras

    if loss == "categorical_crossentropy" or (loss == "perceptron" and num_classes > 2):
        return keras.ops.one_hot(keras.ops.cast(y, "int32"), num_classes)
    if loss in ("binary_crossentropy", "perceptron"):
        return keras.ops.reshape(keras.ops.cast(y, "float32"), (-1, 1))
    return y
