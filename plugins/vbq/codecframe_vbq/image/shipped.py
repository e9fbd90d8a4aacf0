"""References (sha256) of the model files shipped in ``codecframe_vbq/assets`` (see ``docs/vbq.md``).

The defaults (issue 17): the fifth model's VAE (``image-vae-v5.safetensors``) with the fourth
model's tables. Its encoder is the fourth model's, bit for bit; only the decoder was trained further,
4 000 steps on latents quantized by the fourth model's tables (VBQ at λ log-uniform in [1/32, 32] per
crop, 256-pixel crops, batch 4, Adam 1e-4 then 1e-5 from step 3 200; 1 326 CPU-s, one thread) by
the resumable run ``benchmarks/vbq/training/decoder-v4-vbq-crop256-wide`` (``resumable --init-from
VAE_V4 --tune-decoder TABLES_V4 --lambda-range 0.03125 32``): 3.46 CPU-hours in all. Posteriors,
hence tables, are the fourth model's (refitted, they differ only in the VAE reference they record),
so none are shipped for it; ``ImageCodec`` accepts a decoder-tuned VAE with the tables of the weights it
started from.

The fourth model (``-v4`` files, ``*_V4``): the third model (below) fine-tuned 15 000 more steps (Adam
1e-3 with a fresh optimiser, then 1e-4 from step 12 000; 3 459 CPU-s, one thread) by the resumable
run ``benchmarks/vbq/training/finetune-v3-lat64-long`` (``resumable --init-from`` the third model's
weights): 3.09 CPU-hours in all with the earlier models' training. Weights exported with
``resumable --export``, tables fitted with
``python -m codecframe_vbq.image.build --weights VAE --augmented-latents 3 --threads 1 --sigma-alpha 1``.

The third model (``-v3`` files, ``*_V3``): the second model widened to 64 latent channels as the
same function (``benchmarks/vbq/training/widen_latent.py``, seed 0) and fine-tuned 10 000 steps
(Adam 1e-3, then 1e-4 from step 8 000; 2 520 CPU-s, one thread) by the resumable run
``benchmarks/vbq/training/finetune-v2-lat64``; tables fitted with the same ``build`` command.

The second model (``-v2`` files, ``*_V2``): 128 filters with GDN, 32 latent channels, trained on the
colour-augmented second split by the resumable run ``benchmarks/vbq/training/long-h128-gdn`` to
step 25 474 (Adam 1e-3), then continued at 1e-4 by ``benchmarks/vbq/training/decay-probe`` to
step 29 123 (5 149 CPU-s, 1.43 CPU-hours, in all, one thread); its tables were fitted with the same
``build`` command without ``--sigma-alpha`` (α = 0, recorded in them).

The earlier models' files stay shipped so that files written with them (the conformance vectors
among them) still decode; the codec finds a file's VAE by the reference in its header.
"""

#: The fourth model's VAE weights, ``assets/image-vae-v4.safetensors``.
VAE_V4_REF = "sha256:b4c07fc986d997d905440df7e35f70713a6efc9c24bef5ed4bf55f045a1994ee"
#: VBQ tables fitted on the training images' latents under the training augmentation (3 augmented
#: passes), searched with raw σ (they record no σ calibration; chosen on the validation images) on
#: the flattened-prior grid over the full training range, ``assets/image-tables-v4.safetensors``.
TABLES_V4_REF = "sha256:156536a1a79caa65e9ad929071fdaeabc03805f0488c035116628e20b5512f92"
#: The same fitted with raw σ and the paper's quantile grid, ``assets/image-tables-raw-sigma-v4.safetensors``.
RAW_SIGMA_TABLES_V4_REF = "sha256:18e1e689698a308112f2ff0ee981f7a1f0513e37b887aaf3b7d87f2b381a6d36"
#: The fifth model's VAE weights (the fourth's encoder, a decoder tuned on VBQ-quantized latents),
#: ``assets/image-vae-v5.safetensors``; its tables are the fourth model's.
VAE_V5_REF = "sha256:0bc706cc457feaf6d147f79b0ad05ca31f58648666e8201f7d0799fc83f58cc2"
TABLES_V5_REF, RAW_SIGMA_TABLES_V5_REF = TABLES_V4_REF, RAW_SIGMA_TABLES_V4_REF
#: The defaults: the fifth model's files (a file names its own by hash, so changing these changes
#: only what new files are written with).
VAE_REF, TABLES_REF, RAW_SIGMA_TABLES_REF = VAE_V5_REF, TABLES_V5_REF, RAW_SIGMA_TABLES_V5_REF

#: The third model's VAE weights, ``assets/image-vae-v3.safetensors``.
VAE_V3_REF = "sha256:260defc10d515463cbb5672219999ca0c31d08c6286918badbb735233573b5b1"
#: Its tables (raw σ, full-span grid), ``assets/image-tables-v3.safetensors``.
TABLES_V3_REF = "sha256:f73591df155ee866d28612b10ecabcb72d68552f50aadb53b21d95ef2eace4fe"
#: Its tables on the paper's quantile grid, ``assets/image-tables-raw-sigma-v3.safetensors``.
RAW_SIGMA_TABLES_V3_REF = "sha256:6479240f0fa8ce86412a0d69554da77f980c21c83cac9ca422fba1168477fb5f"

#: The second model's VAE weights, ``assets/image-vae-v2.safetensors``.
VAE_V2_REF = "sha256:8852d675127f05f345f53d57f499f12853f4fb06430204a6ca47c9838d2e8612"
#: Its calibrated-σ tables, ``assets/image-tables-v2.safetensors``.
TABLES_V2_REF = "sha256:b42249a059a94cb79e692c25ab5f4c01492ce92340094bc3c6598c1b91e61883"
#: Its raw-σ tables, ``assets/image-tables-raw-sigma-v2.safetensors``.
RAW_SIGMA_TABLES_V2_REF = "sha256:7018d3f5455a2fb512482db74b48488c5f57a27e6ed30344131c782d4b517350"

#: The first shipped VAE (64 filters, ReLU, 22 000 steps on the first split), ``assets/image-vae.safetensors``;
#: produced by ``python -m codecframe_vbq.image.build --out-dir plugins/vbq/codecframe_vbq/assets
#: --steps 22000 --seed 0 --threads 1`` (789 s of CPU time; tables refitted with ``--weights``, 43 s).
VAE_V1_REF = "sha256:b4db75fb95193cb5b7bc3f552821a829f2dcb1620727be839fcf214fdba45879"
#: Its calibrated-σ tables, ``assets/image-tables.safetensors``.
TABLES_V1_REF = "sha256:391fb3c40ca6880b6681df85e3a3edcd21d55f4691b34b86ad54debfb8133dd5"
#: Its raw-σ tables (the default before calibration; the conformance vectors use them),
#: ``assets/image-tables-raw-sigma.safetensors``.
RAW_SIGMA_TABLES_V1_REF = "sha256:82aab76401c8142813a32fc81ae7728d80e10b7ec0e495a9c1ce86e4e14a19d7"
