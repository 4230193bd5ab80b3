"""TPSR: Lee et al., "Journey Towards Tiny Perceptual Super-Resolution", ECCV 2020."""
