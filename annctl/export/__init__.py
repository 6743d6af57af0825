"""`annctl export`: a run's model as an artifact that runs where annctl is not installed — a TensorFlow
SavedModel with a named serving signature, a TFLite file, or a `.keras` file of built-in Keras pieces — each
checked in a separate process without annctl before it is reported done (annctl.export.exporter).

Nothing here imports TensorFlow at import time.
"""
