"""`annctl backprop`: the course's forward and backward passes by hand (numpy), checked against TensorFlow."""

from annctl.backprop.runner import run_backprop

__all__ = ["run_backprop"]
