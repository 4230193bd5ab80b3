"""srlib: a reproducible replication suite for four papers that compress super-resolution GANs."""
__version__ = "0.1.0"
