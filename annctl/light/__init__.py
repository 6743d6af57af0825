"""The light prediction path: a run's model as a TFLite flatbuffer, run by the LiteRT interpreter, so that
`annctl predict` answers without importing TensorFlow or Keras (annctl.light.engine chooses it)."""
