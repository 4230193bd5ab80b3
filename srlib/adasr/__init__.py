"""AdaSR: "AdaSR: Adaptive Super Resolution for Cross Platform and Dynamic Runtime Environments" (ICLR 2024
submission, OpenReview Zrr6kH1cSh): one adaptable depth x width model trained by progressive knowledge
distillation."""
