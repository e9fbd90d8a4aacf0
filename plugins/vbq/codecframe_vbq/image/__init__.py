"""The VBQ image codec: one VAE for every rate (``docs/vbq.md``)."""
