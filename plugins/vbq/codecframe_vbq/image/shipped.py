"""References (sha256) of the model files shipped in ``codecframe_vbq/assets`` (see ``docs/vbq.md``)."""

#: VAE weights, ``assets/image-vae.safetensors``.
VAE_REF = "sha256:" + "0" * 64
#: VBQ tables fitted on the training images' latents, ``assets/image-tables.safetensors``.
TABLES_REF = "sha256:" + "0" * 64
