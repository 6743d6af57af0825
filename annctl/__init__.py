"""annctl: a command-line experiment runner for artificial neural networks (TensorFlow/Keras)."""

__version__ = "0.1.0"
