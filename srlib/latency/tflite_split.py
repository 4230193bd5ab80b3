"""Split a converted ``.tflite`` whose graph holds several independent parts into one model per part.

Used to convert many one-kernel models in one litert-torch conversion (:func:`srlib.latency.convert.
convert_batch`): a conversion costs ~0.7 s of fixed work (torch.export, decompositions, lowering) however
small the model, so a batch of independent kernels converted together and split afterwards costs ~0.13 s
a kernel here. Each part keeps the converter's ops, options, tensors and constant bytes exactly (the
tests compare them with the kernel converted alone); only the flatbuffer's layout differs, and the
signature defs and metadata of the batch are dropped (the timing code reads input details, not
signatures). A part's bytes depend on the kernel alone, not on the batch it was converted in: it keeps
only the operator codes it uses and its tensors are named by position.

Parts are found by the data flow: two ops belong to the same part when one consumes a tensor the other
produces, or when both read the same graph input. Constant tensors do not join parts (a converter may
share one constant between kernels); each part gets its own copy of the constants it reads. Uses the
flatbuffer object API that ai-edge-litert ships (``ai_edge_litert.tools.flatbuffer_utils``).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Sequence

__all__ = ["SplitError", "read", "split_outputs", "write", "io_shapes"]


class SplitError(ValueError):
    """Outputs that do not make up independent parts (the message says which and why)."""


def read(path: str | os.PathLike):
    """The ``ModelT`` object of a ``.tflite`` file."""
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.read_model(str(path))


def write(model, path: str | os.PathLike) -> None:
    """Write a ``ModelT`` to ``path`` (not atomic: callers write to a temporary name and rename)."""
    from ai_edge_litert.tools import flatbuffer_utils

    Path(path).write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


def io_shapes(model) -> tuple[list[list[int]], list[list[int]]]:
    """(input shapes, output shapes) of a model's first subgraph, in its input and output order."""
    sg = model.subgraphs[0]
    return ([[int(v) for v in sg.tensors[t].shape] for t in sg.inputs],
            [[int(v) for v in sg.tensors[t].shape] for t in sg.outputs])


def split_outputs(model, groups: Sequence[Sequence[int]]) -> list:
    """One model per group of graph-output positions of ``model``'s first subgraph.

    ``groups[i]`` lists the positions (in ``subgraph.outputs``) of part i's outputs, e.g. ``[[0], [1, 2]]``
    for a one-output kernel followed by a two-output one. Each part holds the ops connected to its
    outputs, the graph inputs they read (in the batch's input order) and its outputs in the given order.
    Raises :class:`SplitError` when a part's output is not produced by an op (a pass-through or a
    constant), when two groups share ops, or when an op of the graph belongs to no group."""
    from ai_edge_litert import schema_py_generated as schema

    if len(model.subgraphs) != 1:
        raise SplitError(f"expected one subgraph, got {len(model.subgraphs)}")
    sg = model.subgraphs[0]
    ops = sg.operators or []
    graph_inputs = list(sg.inputs)
    producer = {t: i for i, op in enumerate(ops) for t in op.outputs}
    parent = list(range(len(ops)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    first_reader: dict[int, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t < 0:
                continue
            if t in producer:
                parent[find(i)] = find(producer[t])
            elif t in graph_inputs:
                parent[find(i)] = find(first_reader.setdefault(t, i))
    roots: list[int] = []
    for g, positions in enumerate(groups):
        rs = set()
        for p in positions:
            t = sg.outputs[p]
            if t not in producer:
                raise SplitError(f"part {g}: output {p} (tensor {t}) is not produced by an op")
            rs.add(find(producer[t]))
        if len(rs) != 1:
            raise SplitError(f"part {g}: its outputs lie in {len(rs)} separate parts of the graph")
        roots.append(rs.pop())
    if len(set(roots)) != len(roots):
        dup = [g for g, r in enumerate(roots) if roots.count(r) > 1]
        raise SplitError(f"parts {dup} share ops")
    stray = [i for i in range(len(ops)) if find(i) not in set(roots)]
    if stray:
        raise SplitError(f"{len(stray)} op(s) belong to no part (first: op {stray[0]})")

    out = []
    for g, root in enumerate(roots):
        mine = [i for i in range(len(ops)) if find(i) == root]
        tensors: dict[int, int] = {}
        for i in mine:
            for t in list(ops[i].inputs) + list(ops[i].outputs):
                if t >= 0:
                    tensors.setdefault(t, len(tensors))
        codes: dict[int, int] = {}
        for i in mine:
            codes.setdefault(ops[i].opcodeIndex, len(codes))
        part = schema.ModelT()
        part.version, part.description = model.version, model.description
        part.operatorCodes = [model.operatorCodes[c] for c in codes]
        part.buffers = [schema.BufferT()]          # buffer 0: the empty sentinel every model starts with
        psg = schema.SubGraphT()
        psg.name, psg.tensors, psg.operators = sg.name, [], []
        for j, t in enumerate(tensors):
            tt = copy.copy(sg.tensors[t])
            tt.name = f"t{j}"   # the batch's names (argument and module paths) would tie a part to its batch
            data = model.buffers[tt.buffer].data if tt.buffer else None
            if data is not None and len(data):
                part.buffers.append(model.buffers[tt.buffer])
                tt.buffer = len(part.buffers) - 1
            else:
                tt.buffer = 0
            psg.tensors.append(tt)
        for i in mine:
            op = copy.copy(ops[i])
            op.opcodeIndex = codes[op.opcodeIndex]
            op.inputs = [tensors[t] if t >= 0 else t for t in op.inputs]
            op.outputs = [tensors[t] for t in op.outputs]
            psg.operators.append(op)
        psg.inputs = [tensors[t] for t in graph_inputs if t in tensors]
        psg.outputs = [tensors[sg.outputs[p]] for p in groups[g]]
        part.subgraphs = [psg]
        out.append(part)
    return out
