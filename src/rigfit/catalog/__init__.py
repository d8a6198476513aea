"""The bundled, offline catalog of model architectures and accelerators."""
