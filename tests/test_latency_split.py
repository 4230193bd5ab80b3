"""Many one-kernel models from one conversion: the split parts equal the kernels converted alone."""
import hashlib

import pytest

from srlib.latency import convert, tflite_split
from srlib.latency.trace import Kernel


def _describe(path):
    """Everything that decides what a runtime executes: per op its builtin code and version, options,
    and every input / output tensor's shape, type and constant bytes; the graph's inputs and outputs."""
    m = tflite_split.read(path)
    sg = m.subgraphs[0]

    def tensor(t):
        if t < 0:
            return None
        tt = sg.tensors[t]
        data = m.buffers[tt.buffer].data if tt.buffer else None
        digest = hashlib.sha256(bytes(data)).hexdigest() if data is not None and len(data) else None
        return list(tt.shape), tt.type, digest

    def options(o):
        return None if o is None else {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in vars(o).items()}

    def code(op):
        oc = m.operatorCodes[op.opcodeIndex]
        return max(oc.builtinCode, oc.deprecatedBuiltinCode), oc.customCode, oc.version

    return ([(code(op), op.builtinOptionsType, options(op.builtinOptions), [tensor(t) for t in op.inputs],
              [tensor(t) for t in op.outputs]) for op in sg.operators],
            [tensor(t) for t in sg.inputs], [tensor(t) for t in sg.outputs])


# a conv with a fused ReLU, a grouped conv, a two-input add, PReLU (five ops), a split (two outputs), a mean
# (MEAN + RESHAPE), a concatenation, a pixel shuffle
KEYS = [str(Kernel.make("conv2d", h=8, w=8, cin=4, cout=8, k=3, stride=1, pad=1, dil=1, groups=1, act="relu")),
        str(Kernel.make("conv2d", h=8, w=8, cin=8, cout=8, k=3, stride=1, pad=1, dil=1, groups=8, act="none")),
        str(Kernel.make("add", a=(8, 8, 8), b=(8, 8, 8), act="none")),
        str(Kernel.make("prelu", c=8, h=8, w=8, slopes=8)),
        str(Kernel.make("split", sizes=(4, 4), h=8, w=8)),
        str(Kernel.make("mean", c=8, h=8, w=8, dims=(2, 3))),
        str(Kernel.make("concat", cins=(4, 8), h=8, w=8)),
        str(Kernel.make("pixel_shuffle", c=16, h=8, w=8, r=2))]


def test_a_batch_split_equals_each_kernel_converted_alone(tmp_path):
    assert convert.convert_batch(KEYS, tmp_path / "batch") == len(KEYS)
    for k in KEYS:
        convert.convert_one(k, tmp_path / "alone" / f"{KEYS.index(k)}.tflite")
    for i, k in enumerate(KEYS):
        alone = _describe(tmp_path / "alone" / f"{i}.tflite")
        assert _describe(convert.kernel_file(tmp_path / "batch", k)) == alone, k
        assert alone[0], k
    # a part depends on its kernel, not on the batch it came from: byte-identical from another batch
    assert convert.convert_batch(KEYS[5:1:-1], tmp_path / "other") == 4
    for k in KEYS[2:6]:
        assert convert.kernel_file(tmp_path / "other", k).read_bytes() == \
            convert.kernel_file(tmp_path / "batch", k).read_bytes(), k
    assert convert.convert_batch(KEYS, tmp_path / "batch") == 0    # all there: nothing converted


def _graph(n_tensors, ops, inputs, outputs):
    from ai_edge_litert import schema_py_generated as schema

    m, sg = schema.ModelT(), schema.SubGraphT()
    m.buffers, m.operatorCodes = [schema.BufferT()], [schema.OperatorCodeT()]
    sg.tensors = []
    for i in range(n_tensors):
        t = schema.TensorT()
        t.shape, t.buffer, t.name = [1], 0, f"x{i}"
        sg.tensors.append(t)
    sg.operators = []
    for ins, outs in ops:
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, list(ins), list(outs)
        sg.operators.append(op)
    sg.inputs, sg.outputs = list(inputs), list(outputs)
    m.subgraphs = [sg]
    return m


def test_split_finds_parts_by_data_flow_and_refuses_what_is_not_a_part():
    # two parts: 0 -> op0 -> 2 -> op1 -> 3 ; 1 -> op2 -> 4, 5 (two outputs)
    g = _graph(6, [([0], [2]), ([2], [3]), ([1], [4, 5])], inputs=[0, 1], outputs=[3, 4, 5])
    a, b = tflite_split.split_outputs(g, [[0], [1, 2]])
    assert len(a.subgraphs[0].operators) == 2 and len(b.subgraphs[0].operators) == 1
    assert a.subgraphs[0].inputs == [0] and a.subgraphs[0].outputs == [2]   # renumbered: 0, 2, 3 -> 0, 1, 2
    assert b.subgraphs[0].outputs == [1, 2]
    with pytest.raises(tflite_split.SplitError, match="share ops"):
        tflite_split.split_outputs(g, [[0], [1], [2]])
    with pytest.raises(tflite_split.SplitError, match="not produced by an op"):
        tflite_split.split_outputs(_graph(2, [([0], [1])], inputs=[0], outputs=[1, 0]), [[0], [1]])
    with pytest.raises(tflite_split.SplitError, match="belong to no part"):
        tflite_split.split_outputs(g, [[0]])
    # two ops reading one graph input are one part
    shared = _graph(3, [([0], [1]), ([0], [2])], inputs=[0], outputs=[1, 2])
    with pytest.raises(tflite_split.SplitError, match="share ops"):
        tflite_split.split_outputs(shared, [[0], [1]])
