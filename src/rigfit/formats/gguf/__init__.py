"""GGUF, in one place: the header parser (``header``), metadata mapped to a config
(``metadata``), the replay of llama.cpp's per-tensor type choice (``quantize``) and the predicted
file (``size``)."""
