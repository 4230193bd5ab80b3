"""Shared training building blocks: the loop (resume, DDP, logging), losses and distillation helpers."""
