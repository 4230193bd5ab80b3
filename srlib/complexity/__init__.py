"""Model complexity: parameters, MACs / FLOPs and memory access cost, and each paper's convention.

``measure(model, lr_hw=(H, W), bias=False) -> Complexity`` counts one forward pass on the meta device
(no compute; a real forward only for models that cannot run on meta). What every number counts is in
:mod:`srlib.complexity.counters`; how each paper's table prints it (MACs or 2 x MACs, input size, bias
adds, units) is in :mod:`srlib.complexity.conventions`:
``printed_flops(model, convention("mfagan", "table2"))``.
"""
from srlib.complexity.conventions import (CONVENTIONS, Convention, convention, conventions, printed_flops,
                                          printed_memory, printed_params)
from srlib.complexity.counters import (DEFAULT_MEMORY_DEFINITION, MEMORY_DEFINITIONS, Complexity, OpRecord,
                                       Trace, count_params, measure, trace)

__all__ = [
    "CONVENTIONS", "Complexity", "Convention", "DEFAULT_MEMORY_DEFINITION", "MEMORY_DEFINITIONS", "OpRecord",
    "Trace", "convention", "conventions", "count_params", "measure", "printed_flops", "printed_memory",
    "printed_params", "trace",
]
