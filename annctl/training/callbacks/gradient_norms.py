"""`output.gradient_norms`: each layer's gradient L2 norm per epoch — the mean over the epoch's batches
(`grad_norm/<layer>`) and the largest (`grad_norm_max/<layer>`) — added to the epoch's logs, so metrics.csv
and TensorBoard record them like any metric.

Why the optimizer is wrapped: a mean and a maximum over *every* batch need every training step's gradients,
and Keras hands them to one place only, the optimizer's ``apply``. A callback never sees them (with
``steps_per_execution`` > 1 it is not even called per batch), and norms measured on a fixed probe batch at the
epoch's end would be another quantity (the gradient of the end-of-epoch weights, not of the steps taken).
So the ``apply`` of this model's optimizer instance is wrapped: before passing the gradients on untouched, it
adds their per-layer norms into three variables that live inside the compiled training step; the callback
zeroes them when an epoch begins and reads them when it ends. The norms are those of the raw gradients, before
clipping (the optimizer clips inside ``apply``) and, under mixed precision, after loss-scaling is undone. The
wrapper only reads the gradients, so a run with it trains exactly as one without it (tests/test_gradients.py).
"""

from __future__ import annotations

import keras
import tensorflow as tf


class GradientNorms(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.layer_names: list[str] = []
        self._installed_on = None

    def set_model(self, model):
        super().set_model(model)
        if self._installed_on is not model:
            self._install(model)
            self._installed_on = model

    def _install(self, model) -> None:
        layer_of: dict[int, int] = {}
        for layer in model.layers:
            if layer.trainable_weights:
                self.layer_names.append(layer.name)
                for weight in layer.trainable_weights:
                    layer_of[id(weight)] = len(self.layer_names) - 1
        count = len(self.layer_names)
        self.sums = tf.Variable(tf.zeros(count), trainable=False, name="grad_norm_sums")
        self.maxima = tf.Variable(tf.zeros(count), trainable=False, name="grad_norm_maxima")
        self.steps = tf.Variable(0.0, trainable=False, name="grad_norm_steps")
        # mixed precision: the LossScaleOptimizer passes the unscaled gradients of finite steps to its inner one
        optimizer = model.optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = optimizer.inner_optimizer
        apply = optimizer.apply

        def measured_apply(grads, trainable_variables=None):
            if trainable_variables is None:  # never from fit: Keras passes the variables with their gradients
                return apply(grads, trainable_variables)
            squares = [tf.zeros(())] * count
            for gradient, variable in zip(grads, trainable_variables):
                index = layer_of.get(id(variable))
                if gradient is None or index is None:
                    continue
                gradient = tf.cast(tf.convert_to_tensor(gradient), "float32")
                squares[index] = squares[index] + tf.reduce_sum(tf.square(gradient))
            norms = tf.sqrt(tf.stack(squares))
            self.sums.assign_add(norms)
            self.maxima.assign(tf.maximum(self.maxima, norms))
            self.steps.assign_add(1.0)
            return apply(grads, trainable_variables)

        optimizer.apply = measured_apply

    def on_epoch_begin(self, epoch, logs=None):
        self.sums.assign(tf.zeros_like(self.sums))
        self.maxima.assign(tf.zeros_like(self.maxima))
        self.steps.assign(0.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not float(self.steps.numpy()):
            return
        means = self.sums.numpy() / float(self.steps.numpy())
        maxima = self.maxima.numpy()
        logs.update({f"grad_norm/{name}": float(value) for name, value in zip(self.layer_names, means)})
        logs.update({f"grad_norm_max/{name}": float(value) for name, value in zip(self.layer_names, maxima)})
