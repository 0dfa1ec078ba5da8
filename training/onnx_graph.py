"""An ONNX graph run with TensorFlow operations, its weights as variables, so that it can be trained.

PaddleOCR's recognizer ships as an ONNX file: ONNX Runtime reads it, nothing here trains it. Its graph
uses two dozen plain operations (convolutions, matrix products, layer norms spelled out as means and
powers, GELUs as Erf); each is mapped to TensorFlow below, the float weights become variables, and the
trained values are written back into the same graph (`write_weights`), so the server keeps reading the
file exactly as before. Tensors stay in ONNX's NCHW layout; a convolution turns them to NHWC and back,
because TensorFlow's CPU convolutions take only NHWC. Batch norms are run as at inference: their
statistics stay frozen (a fine-tune at a low rate, on batches far smaller than the original ones).
"""

from __future__ import annotations

import numpy as np


def _attributes(node) -> dict:
    """The node's attributes as Python values."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pad_nchw(x, pads: list[int]):
    """Zero-pad the two spatial axes by ONNX pads (top, left, bottom, right)."""
    import tensorflow as tf

    if not any(pads):
        return x
    return tf.pad(x, [[0, 0], [0, 0], [pads[0], pads[2]], [pads[1], pads[3]]])


def _auto_pad(a: dict) -> str:
    """TensorFlow's padding for a node's auto_pad: SAME_UPPER is TensorFlow's SAME (the odd row at the end)."""
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER"):
        raise NotImplementedError(f"auto_pad {auto_pad}")
    return "SAME" if auto_pad == "SAME_UPPER" else "VALID"


def _conv(x, w, b, a: dict):
    """ONNX Conv (NCHW, weights (out, in / group, kh, kw)): plain or depthwise."""
    import tensorflow as tf

    strides = list(a.get("strides", [1, 1]))
    dilations = list(a.get("dilations", [1, 1]))
    padding = _auto_pad(a)
    x = tf.transpose(_pad_nchw(x, list(a.get("pads", [0, 0, 0, 0]))), [0, 2, 3, 1])
    group = a.get("group", 1)
    if group == 1:
        y = tf.nn.conv2d(x, tf.transpose(w, [2, 3, 1, 0]), [1, *strides, 1], padding, dilations=dilations)
    elif w.shape[1] == 1 and w.shape[0] == group:  # depthwise: one filter per channel
        y = tf.nn.depthwise_conv2d(x, tf.transpose(w, [2, 3, 0, 1]), [1, *strides, 1], padding,
                                   dilations=dilations)
    else:
        raise NotImplementedError(f"grouped convolution with {group} groups and weights {w.shape}")
    if b is not None:
        y = y + b
    return tf.transpose(y, [0, 3, 1, 2])


def _pool(x, a: dict, kind: str):
    """ONNX MaxPool / AveragePool over NCHW, unpadded or SAME_UPPER (TensorFlow's SAME)."""
    import tensorflow as tf

    kernel, strides = list(a["kernel_shape"]), list(a.get("strides", [1, 1]))
    if a.get("ceil_mode", 0) or any(a.get("pads", [0])):
        raise NotImplementedError("pooling with ceil_mode or explicit pads")
    padding = _auto_pad(a)
    x = tf.transpose(x, [0, 2, 3, 1])
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    return tf.transpose(pool(x, kernel, strides, padding), [0, 3, 1, 2])


def _slice(x, starts, ends, axes=None, steps=None):
    """ONNX Slice with constant starts, ends, axes and steps."""
    rank = len(x.shape)
    axes = list(range(len(starts))) if axes is None else [int(v) % rank for v in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * rank
    big = np.iinfo(np.int64).max // 2  # ONNX's "to the end"
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[axis] = slice(int(start), None if int(end) >= big else int(end), int(step))
    return x[tuple(index)]


def _reshape(x, shape):
    """ONNX Reshape: a 0 copies the input's dimension."""
    import tensorflow as tf

    shape = tf.cast(shape, tf.int32)
    length = shape.shape[0]
    dims = tf.concat([tf.shape(x), tf.ones([length], tf.int32)], 0)[:length]
    return tf.reshape(x, tf.where(tf.equal(shape, 0), dims, shape))


def _layer(op: str, a: dict, v: list):
    """The TensorFlow value of one ONNX node from its attributes and input values."""
    import tensorflow as tf

    simple = {"Identity": lambda: v[0], "Add": lambda: tf.add(v[0], v[1]), "Sub": lambda: tf.subtract(v[0], v[1]),
              "Mul": lambda: tf.multiply(v[0], v[1]), "Div": lambda: tf.divide(v[0], v[1]),
              "Pow": lambda: tf.pow(v[0], v[1]),
              "Sqrt": lambda: tf.sqrt(v[0]), "Erf": lambda: tf.math.erf(v[0]), "Relu": lambda: tf.nn.relu(v[0]),
              "Sigmoid": lambda: tf.sigmoid(v[0]), "MatMul": lambda: tf.matmul(v[0], v[1]),
              "HardSigmoid": lambda: tf.clip_by_value(a.get("alpha", 0.2) * v[0] + a.get("beta", 0.5), 0.0, 1.0),
              "Softmax": lambda: tf.nn.softmax(v[0], axis=a.get("axis", -1)),
              "Transpose": lambda: tf.transpose(v[0], a["perm"]),
              "Shape": lambda: tf.shape(v[0], out_type=tf.int64),
              "Concat": lambda: tf.concat([tf.cast(t, v[0].dtype) for t in v], a["axis"]),
              "Squeeze": lambda: tf.squeeze(v[0], a["axes"]),
              "Unsqueeze": lambda: _unsqueeze(v[0], a["axes"]),
              "ReduceMean": lambda: tf.reduce_mean(v[0], a.get("axes"), keepdims=bool(a.get("keepdims", 1))),
              "Reshape": lambda: _reshape(v[0], v[1]),
              "Slice": lambda: _slice(v[0], *[np.asarray(t) for t in v[1:]]),
              "Conv": lambda: _conv(v[0], v[1], v[2] if len(v) > 2 else None, a),
              "MaxPool": lambda: _pool(v[0], a, "max"), "AveragePool": lambda: _pool(v[0], a, "avg"),
              "BatchNormalization": lambda: _batch_norm(v, a)}
    if op not in simple:
        raise NotImplementedError(f"ONNX operation {op}")
    return simple[op]()


def _unsqueeze(x, axes: list[int]):
    """ONNX Unsqueeze (axes counted in the output)."""
    import tensorflow as tf

    for axis in sorted(axes):
        x = tf.expand_dims(x, axis)
    return x


def _batch_norm(v: list, a: dict):
    """ONNX BatchNormalization at inference over NCHW (frozen statistics)."""
    import tensorflow as tf

    x, scale, bias, mean, var = v
    shape = [1, -1] + [1] * (len(x.shape) - 2)
    gain = scale / tf.sqrt(var + a.get("epsilon", 1e-5))
    return (x - tf.reshape(mean, shape)) * tf.reshape(gain, shape) + tf.reshape(bias, shape)


class OnnxGraph:
    """An ONNX model as a TensorFlow function of its input, its float weights as tf.Variables."""

    def __init__(self, model, output: str | None = None) -> None:
        import tensorflow as tf
        from onnx import numpy_helper

        self.model = model
        graph = model.graph
        self.input = graph.input[0].name
        self.output = output or graph.output[0].name
        self.constants: dict[str, np.ndarray] = {}
        self.variables: dict[str, tf.Variable] = {}
        statistics = {n.input[i] for n in graph.node if n.op_type == "BatchNormalization" for i in (3, 4)}
        for initializer in graph.initializer:
            value = numpy_helper.to_array(initializer)
            if value.dtype == np.float32 and value.ndim >= 1 and value.size > 1:
                trainable = initializer.name not in statistics
                self.variables[initializer.name] = tf.Variable(value, trainable=trainable, name="w")
            else:
                self.constants[initializer.name] = value
        self.nodes = [(node, _attributes(node)) for node in _needed(graph.node, self.output)]
        self._compiled = None

    @property
    def trainable(self) -> list:
        """The variables a fit may change."""
        return [v for v in self.variables.values() if v.trainable]

    def __call__(self, x):
        """The output tensor for an input batch (N, C, H, W)."""
        values = {self.input: x, **self.variables, **self.constants}
        for node, attributes in self.nodes:
            values[node.output[0]] = _layer(node.op_type, attributes, [values[name] for name in node.input if name])
        return values[self.output]

    def compiled(self):
        """The graph as one traced TensorFlow function, for any batch and width (traced once, kept)."""
        import tensorflow as tf

        if self._compiled is None:
            dims = self.model.graph.input[0].type.tensor_type.shape.dim
            spec = tf.TensorSpec([d.dim_value or None for d in dims], tf.float32)
            self._compiled = tf.function(self, autograph=False, input_signature=[spec])
        return self._compiled

    def write_weights(self) -> None:
        """Copy the variables' values back into the ONNX model's initializers (in place)."""
        from onnx import numpy_helper

        for initializer in self.model.graph.initializer:
            if initializer.name in self.variables:
                value = self.variables[initializer.name].numpy().astype(np.float32)
                initializer.CopyFrom(numpy_helper.from_array(value, initializer.name))


def _needed(nodes, output: str) -> list:
    """The nodes the output depends on, in the graph's (topological) order."""
    wanted, kept = {output}, []
    for node in reversed(list(nodes)):
        if wanted.intersection(node.output):
            kept.append(node)
            wanted.update(name for name in node.input if name)
    return kept[::-1]
