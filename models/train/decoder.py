"""A small causal transformer shared by Kiln's sequence generators (text and music), trained
here and exported in the decoder contract of Hugging Face/optimum exports:

  inputs:  input_ids [B, S] i64, attention_mask [B, P+S] i64, position_ids [B, S] i64,
           past_key_values.{i}.key / .value [B, H, P, D] f32   (P may be 0)
  outputs: logits [B, S, V] f32, present.{i}.key / .value [B, H, P+S, D] f32

so Kiln runs the prompt once and then one token per step with the KV cache. `export(...,
fast_cpu=True)` writes the same contract with ONNX Runtime's fused attention and 8-bit weights
(contrib operators of the `com.microsoft` domain, in the standard ONNX Runtime builds Kiln fetches).
"""

import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask, past_k, past_v, fused=False):
        """`mask`: None (training: causal, no past, no padding), the additive [B, 1, S, P+S] mask
        of `attention_mask`, or with `fused` the key padding mask itself ([B, P+S] int32)."""
        q, k, v = self.qkv(self.norm1(x)).split(x.shape[2], dim=2)
        if fused:
            y, k, v = FusedAttention.apply(q, k, v, mask, past_k, past_v, self.heads)
        else:
            y, k, v = attend(q, k, v, mask, past_k, past_v, self.heads)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, k, v


def attend(q, k, v, mask, past_k, past_v, heads):
    """Multi-head attention of [B, S, D] queries, keys and values after a [B, H, P, D/H] past,
    under an additive `mask` (None: causal, and no past). Returns the [B, S, D] output and the
    [B, H, P+S, D/H] keys and values (the presents)."""
    b, s, d = q.shape
    q, k, v = (t.view(b, s, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    k = torch.cat([past_k, k], dim=2)
    v = torch.cat([past_v, v], dim=2)
    if mask is None:  # PyTorch's fused kernel
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // heads) + mask
        y = F.softmax(att, dim=-1) @ v
    return y.transpose(1, 2).reshape(b, s, d), k, v


def additive_mask(attention_mask, s):
    """[B, 1, S, P+S]: 0 where a query may look (causal within the S new tokens, the whole past),
    -1e9 at later tokens and where `attention_mask` is 0 (padding, taken-back tokens)."""
    total = attention_mask.shape[1]
    i = torch.arange(s).unsqueeze(1) + (total - s)
    j = torch.arange(total).unsqueeze(0)
    keep = (j <= i).unsqueeze(0).unsqueeze(0) & attention_mask.bool().unsqueeze(1).unsqueeze(1)
    return torch.zeros(keep.shape).masked_fill(~keep, -1e9)


class FusedAttention(torch.autograd.Function):
    """`attend` under a causal and key-padding mask, exported as one ONNX Runtime
    `com.microsoft.MultiHeadAttention` node (`unidirectional`: causal after the past) instead of
    about thirty nodes of reshaping, masking and softmax: a decoder step a tenth faster on CPU.
    The node's optional `bias` and `attention_bias` inputs are left empty by `export`."""

    @staticmethod
    def forward(ctx, q, k, v, key_padding_mask, past_k, past_v, heads):
        return attend(q, k, v, additive_mask(key_padding_mask, q.shape[1]), past_k, past_v, heads)

    @staticmethod
    def symbolic(g, q, k, v, key_padding_mask, past_k, past_v, heads):
        return g.op(f"{FUSED_DOMAIN}::MultiHeadAttention", q, k, v, key_padding_mask, past_k, past_v,
                    num_heads_i=heads, unidirectional_i=1, outputs=3)


FUSED_DOMAIN = "com.microsoft"


class Decoder(nn.Module):
    def __init__(self, vocab, dim=192, layers=4, heads=4, context=256, dropout=0.0):
        super().__init__()
        self.config = dict(vocab=vocab, dim=dim, layers=layers, heads=heads, context=context)
        self.drop = nn.Dropout(dropout)
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tokens.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def empty_past(self, batch):
        c = self.config
        shape = (batch, c["heads"], 0, c["dim"] // c["heads"])
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(c["layers"])]

    def forward(self, input_ids, attention_mask, position_ids, *past, causal_only=False, fused=False):
        """`past` is k0, v0, k1, v1, ...; returns logits and the presents in the same order.
        `causal_only` (training, no past): attend causally and ignore `attention_mask`;
        `fused` (export): attention as `FusedAttention`, the same arithmetic."""
        weights = self.token_weights()
        x = self.drop(F.embedding(input_ids, weights) + self.positions(position_ids))
        if causal_only:
            mask = None
        elif fused:
            mask = attention_mask.to(torch.int32)
        else:
            mask = additive_mask(attention_mask, input_ids.shape[1])
        presents = []
        for n, block in enumerate(self.blocks):
            x, k, v = block(x, mask, past[2 * n], past[2 * n + 1], fused)
            presents += [k, v]
        return (F.linear(self.norm(x), weights), *presents)

    def token_weights(self):
        """[vocab, dim]: each token's embedding, which is also its row of the output layer."""
        return self.tokens.weight

    def loss(self, batch):
        """Next-token loss on a [B, S] batch of token ids (0 = padding, ignored)."""
        b, s = batch.shape
        ids, targets = batch[:, :-1], batch[:, 1:]
        mask = torch.ones(b, s - 1, dtype=torch.long)
        positions = torch.arange(s - 1).unsqueeze(0).expand(b, -1)
        past = [t for pair in self.empty_past(b) for t in pair]
        logits = self(ids, mask, positions, *past, causal_only=True)[0]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


def train(model, sequences, minutes, batch=32, lr=3e-3, log=print, held_out=None, every=200,
          background=(), start=None, snapshot=None, snapshot_every=1000):
    """Trains on random batches of `sequences` (a [N, S] LongTensor, 0-padded) for about
    `minutes`; `background` is (sequences, share) pairs: that share of the batches comes from
    those sequences instead (general text that teaches the language, beside the few texts the
    model is for).

    With `held_out` sequences, their loss is logged every `every` steps. `snapshot(model,
    stats)` is called every `snapshot_every` steps and at the end, stats being the steps and
    minutes so far (continuing `start`, the stats of the checkpoint it resumes) and the last
    held-out loss. Returns (steps, training loss, stats)."""
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    started = time.time()
    first = start["steps"] if start else 0
    step = first
    budget = minutes * 60
    held = math.nan

    def stats():
        before = start["minutes"] if start else 0.0
        return {"steps": step, "minutes": round(before + (time.time() - started) / 60, 1), "held_out_loss": round(held, 4)}

    def save():
        model.eval()
        snapshot(model, stats())
        model.train()

    while time.time() - started < budget:
        progress = (time.time() - started) / budget
        for group in optimiser.param_groups:
            group["lr"] = lr * min(1.0, (step - first) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        draw, source = torch.rand(()).item(), sequences
        for extra, share in background:
            if draw < share:
                source = extra
                break
            draw -= share
        rows = source[torch.randint(0, len(source), (batch,))]
        loss = model.loss(rows[:, : int((rows != 0).any(0).nonzero().max()) + 1])
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        if held_out is not None and step % every == 0:
            held = held_out_loss(model, held_out)
            log(f"step {step} loss {loss.item():.3f} held-out {held:.3f} ({time.time() - started:.0f}s)")
        elif step % 100 == 0:
            log(f"step {step} loss {loss.item():.3f} ({time.time() - started:.0f}s)")
        if snapshot and step % snapshot_every == 0:
            save()
    if held_out is not None:
        held = held_out_loss(model, held_out)
    if snapshot:
        save()
    model.eval()
    return step, loss.item(), stats()


@torch.no_grad()
def held_out_loss(model, sequences, batch=64):
    """Mean next-token loss over `sequences`, without dropout."""
    model.eval()
    losses = [model.loss(sequences[i:i + batch]).item() * len(sequences[i:i + batch]) for i in range(0, len(sequences), batch)]
    model.train()
    return sum(losses) / len(sequences)


def export(model, path, half_weights=False, fast_cpu=False):
    """Exports the decoder contract with dynamic batch, sequence and past lengths; with
    `half_weights`, its large weights are stored as float16 (`store_weights_as_float16`).
    `fast_cpu`: each block's attention is one `FusedAttention` node and the matrix products'
    weights are int8 (`quantize_weights_int8`): a step takes about 45 % less time on two cores."""
    layers = model.config["layers"]
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    ids = torch.tensor([[1, 2, 3]])
    past = [t for pair in model.empty_past(1) for t in pair]
    # Export with a non-empty past so the graph keeps the concat path general.
    with torch.no_grad():
        out = model(ids, torch.ones(1, 3, dtype=torch.long), torch.arange(3).unsqueeze(0), *past)
    past = list(out[1:])
    args = (torch.tensor([[4]]), torch.ones(1, 4, dtype=torch.long), torch.tensor([[3]]), *past)
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total"},
               "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    for name in past_names:
        dynamic[name] = {0: "batch", 2: "past"}
    for name in present_names:
        dynamic[name] = {0: "batch", 2: "total"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(Fused(model) if fast_cpu else model, tuple(args), str(path),
                      input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                      output_names=["logits", *present_names], dynamic_axes=dynamic, opset_version=17, dynamo=False,
                      custom_opsets={FUSED_DOMAIN: 1} if fast_cpu else None)
    if fast_cpu:
        complete_fused_attention(path)
    fix_reshape_shapes(path)
    if fast_cpu:
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "plain.onnx"
            export(model, plain)
            assert_same_outputs(plain.read_bytes(), path.read_bytes())
        quantize_weights_int8(path)
        declare_output_sizes(path, model.config)
    if half_weights:
        # After quantizing, only the embeddings (read by Gather): the 8-bit blocks' scales stay exact.
        store_weights_as_float16(path, read_by={"Gather"} if fast_cpu else None)


class Fused(nn.Module):
    """`model` with `fused` attention, for export."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        return self.model(*inputs, fused=True)


def complete_fused_attention(path):
    """What the exporter cannot write for `FusedAttention`'s node: its empty optional inputs (it
    gets only those it uses; the node's signature is query, key, value, bias, key_padding_mask,
    attention_bias, past_key, past_value)."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        if node.op_type == "MultiHeadAttention" and node.domain == FUSED_DOMAIN:
            q, k, v, key_padding_mask, past_k, past_v = node.input
            del node.input[:]
            node.input.extend([q, k, v, "", key_padding_mask, "", past_k, past_v])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def declare_output_sizes(path, config):
    """Writes the outputs' static sizes (vocabulary, heads, head size), which Kiln checks against
    the manifest, into the ONNX file at `path`: shape inference loses them through
    `FusedAttention`'s node and the quantizer's."""
    import onnx

    model = onnx.load(str(path))
    static = {"logits": {2: config["vocab"]}}
    for output in model.graph.output:
        sizes = static.get(output.name, {1: config["heads"], 3: config["dim"] // config["heads"]})
        for axis, size in sizes.items():
            output.type.tensor_type.shape.dim[axis].dim_value = size
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def quantize_weights_int8(path):
    """Rewrites the ONNX file at `path` with each MatMul's weight as int8 in blocks of 32 values
    along the input, one scale per block (ONNX Runtime's MatMulNBits). `accuracy_level` 4 has
    the CPU quantize each input row's blocks to int8 too and multiply in integers: a row's
    result does not depend on the other rows of the batch (unlike dynamic quantization's one
    scale per tensor), and a matrix-vector step reads a quarter of the bytes."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    model = onnx.load(str(path))
    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, bits=8, accuracy_level=4)
    quantizer = MatMulNBitsQuantizer(model, block_size=32, is_symmetric=True, accuracy_level=4, algo_config=config)
    quantizer.process()
    onnx.save(quantizer.model.model, str(path))


def divergence(model, path, sequences):
    """How far the exported file at `path` is from `model` on `sequences` (a [N, S] LongTensor,
    0-padded; each run whole, no cache): the mean KL divergence of its next-token distribution
    from the model's, in nats per token, and the share of tokens where both rank the same token
    first. Measures what `quantize_weights_int8` costs."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    c = model.config
    empty = np.zeros((1, c["heads"], 0, c["dim"] // c["heads"]), np.float32)
    kl, same, tokens = 0.0, 0, 0
    for row in sequences:
        ids = row[row != 0].unsqueeze(0)
        n = ids.shape[1]
        feed = contract_feed(ids.numpy(), np.ones((1, n), np.int64), [empty] * (2 * c["layers"]))
        exported = torch.from_numpy(session.run(["logits"], feed)[0][0]).log_softmax(-1)
        with torch.no_grad():
            reference = model(ids, torch.ones(1, n, dtype=torch.long), torch.arange(n).unsqueeze(0),
                              *[t for pair in model.empty_past(1) for t in pair])[0][0].log_softmax(-1)
        kl += float((reference.exp() * (reference - exported)).sum())
        same += int((reference.argmax(-1) == exported.argmax(-1)).sum())
        tokens += n
    return kl / tokens, same / tokens


def fix_reshape_shapes(path):
    """Rewrites the ONNX file at `path` so that each Reshape whose target shape the exporter
    computes at run time (Shape -> Gather -> Unsqueeze -> Concat, from `view(b, s, h, d // h)`)
    takes a constant instead: a dimension equal to the input's at the same place becomes 0
    ("copy it"), a static one its value. The arithmetic is unchanged (same logits, bit for bit:
    `kiln_decoder_equal`); about a third of the nodes a step runs, all shape bookkeeping, go.
    Returns how many Reshapes were fixed."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(path))
    graph = model.graph
    # ONNX Runtime's symbolic inference keeps "batch" and "sequence" through the attention's
    # MatMuls, where onnx's own loses them.
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True).graph
    dims = {}
    for info in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims[info.name] = [d.dim_param or d.dim_value or None for d in info.type.tensor_type.shape.dim]
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    def value(name):
        """The elements of a small int64 tensor: ints, or (tensor, dim) for a run-time size;
        None when it is not a shape expression this knows."""
        if name in constants:
            return constants[name].reshape(-1).tolist(), constants[name].ndim == 0
        node = producer.get(name)
        if node is None:
            return None
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        inputs = [value(i) for i in node.input] if node.op_type != "Shape" else []
        if any(i is None for i in inputs):
            return None
        if node.op_type == "Constant" and "value" in attrs:
            array = numpy_helper.to_array(attrs["value"])
            return array.reshape(-1).tolist(), array.ndim == 0
        if node.op_type == "Shape" and node.input[0] in dims:
            shape = dims[node.input[0]]
            return [d if isinstance(d, int) else (node.input[0], k) for k, d in enumerate(shape)], False
        if node.op_type == "Gather" and attrs.get("axis", 0) == 0:
            (data, _), (index, scalar) = inputs
            return [data[i] for i in index], scalar
        if node.op_type == "Unsqueeze" and inputs[0][1]:
            return inputs[0][0], False
        if node.op_type == "Cast":
            return inputs[0]
        if node.op_type == "Concat":
            return [e for elements, _ in inputs for e in elements], False
        if node.op_type in ("Div", "Mul") and all(isinstance(e, int) for i in inputs for e in i[0]):
            (a, scalar), (b, _) = inputs
            op = (lambda x, y: x // y) if node.op_type == "Div" else (lambda x, y: x * y)
            return [op(x, y) for x, y in zip(a, b)], scalar
        return None

    fixed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] in constants:
            continue
        target = value(node.input[1])
        source = dims.get(node.input[0])
        if target is None or source is None:
            continue
        shape = []
        for k, element in enumerate(target[0]):
            if isinstance(element, int):
                shape.append(element)
            elif k < len(source) and isinstance(source[k], str) and dims[element[0]][element[1]] == source[k]:
                shape.append(0)  # the same run-time size as the input's at this place
            else:
                break
        else:
            name = f"{node.name}/shape"
            graph.initializer.append(numpy_helper.from_array(np.array(shape, dtype=np.int64), name))
            constants[name] = np.array(shape)
            node.input[1] = name
            fixed += 1
    # Drop what nothing reads any more.
    while True:
        used = {i for node in graph.node for i in node.input} | {o.name for o in graph.output}
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    onnx.checker.check_model(model)
    before = path.read_bytes()
    onnx.save(model, str(path))
    assert_same_outputs(before, path.read_bytes())
    return fixed


def contract_feed(input_ids, attention_mask, past):
    """ONNX Runtime inputs of the decoder contract: `input_ids` [B, S] after a past of
    `attention_mask`'s length less S (`past`: k0, v0, k1, v1, ... as numpy arrays), positions
    counted on from there."""
    import numpy as np

    batch, length = input_ids.shape
    start = attention_mask.shape[1] - length
    feed = {"input_ids": input_ids, "attention_mask": attention_mask,
            "position_ids": np.tile(np.arange(start, start + length, dtype=np.int64), (batch, 1))}
    feed.update({f"past_key_values.{i // 2}.{('key', 'value')[i % 2]}": p for i, p in enumerate(past)})
    return feed


def assert_same_outputs(before, after):
    """Raises unless two decoder exports (ONNX bytes) give bit-identical outputs in ONNX
    Runtime, for a batch of two: a prompt of five tokens, then two steps with the cache; the
    second row's third token is masked out (as Kiln does with a taken-back token)."""
    import numpy as np
    import onnxruntime as ort

    sessions = [ort.InferenceSession(b, providers=["CPUExecutionProvider"]) for b in (before, after)]
    inputs = {i.name: i for i in sessions[0].get_inputs()}
    layers = len([n for n in inputs if n.endswith(".key")])
    heads, size = inputs["past_key_values.0.key"].shape[1], inputs["past_key_values.0.key"].shape[3]
    vocab = sessions[0].get_outputs()[0].shape[2]
    rng = np.random.default_rng(0)
    past, past_len = [np.zeros((2, heads, 0, size), np.float32)] * (2 * layers), 0
    for length in (5, 1, 1):
        mask = np.ones((2, past_len + length), np.int64)
        mask[1, 2] = 0
        feed = contract_feed(rng.integers(0, vocab, (2, length)).astype(np.int64), mask, past)
        outputs = [s.run(None, feed) for s in sessions]
        for a, b in zip(*outputs):
            if not np.array_equal(a, b):
                raise AssertionError("the rewritten decoder computes something else")
        past, past_len = outputs[0][1:], past_len + length


def store_weights_as_float16(path, smallest=1024, read_by=None):
    """Rewrites the ONNX file at `path` with each float32 weight of at least `smallest` values
    (and, given `read_by`, read only by nodes of those types) stored as float16 and cast back
    to float32 by a Cast node, which ONNX Runtime folds into a float32 constant when it loads
    the model: half the file, and the same float32 arithmetic on weights rounded to float16
    (inputs, outputs and speed unchanged)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    casts = []
    for index, weight in enumerate(graph.initializer):
        if weight.data_type != TensorProto.FLOAT or math.prod(weight.dims) < smallest:
            continue
        if read_by is not None and not readers.get(weight.name, {None}) <= read_by:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), f"{weight.name}.float16")
        casts.append(helper.make_node("Cast", [half.name], [weight.name], to=TensorProto.FLOAT))
        graph.initializer[index].CopyFrom(half)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def manifest_tensors(model):
    """The inputs/outputs section of a model.ron for the exported decoder."""
    c = model.config
    head = c["dim"] // c["heads"]
    lines = ["    inputs: [",
             '        (name: "input_ids", dtype: I64, shape: ["batch", "sequence"]),',
             '        (name: "attention_mask", dtype: I64, shape: ["batch", "total"]),',
             '        (name: "position_ids", dtype: I64, shape: ["batch", "sequence"]),']
    for i in range(c["layers"]):
        for kv in ("key", "value"):
            lines.append(f'        (name: "past_key_values.{i}.{kv}", dtype: F32, shape: ["batch", {c["heads"]}, "past", {head}]),')
    lines += ["    ],", "    outputs: [",
              f'        (name: "logits", dtype: F32, shape: ["batch", "sequence", {c["vocab"]}]),']
    for i in range(c["layers"]):
        for kv in ("key", "value"):
            lines.append(f'        (name: "present.{i}.{kv}", dtype: F32, shape: ["batch", {c["heads"]}, "total", {head}]),')
    lines.append("    ],")
    return "\n".join(lines)


def write_manifest(model, out, name, description, licence, training_script, data, notes, contract, attribution=None):
    """Writes `out/model.ron`: contract, licence and provenance, and the ONNX file's sha256.
    `data` is a list of (name, source, licence); `contract` the SequenceGenerator body;
    `attribution` the credit a user must ship with the model's output (CC-BY data), if any."""
    import hashlib

    sha = hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    sources = "\n".join(
        f'            (\n                name: {json_str(n)},\n                source: {json_str(s)},\n                licence: {json_str(l)},\n            ),'
        for n, s, l in data
    )
    (out / "model.ron").write_text(f"""// Written by models/train/{training_script}.
(
    name: "{name}",
    description: {json_str(description)},
    sha256: "{sha}",
    licence: "{licence}",
{f"    attribution: {json_str(attribution)},{chr(10)}" if attribution else ""}    provenance: (
        training_script: "models/train/{training_script}",
        data: [
{sources}
        ],
        notes: {json_str(notes)},
    ),
{manifest_tensors(model)}
    kind: SequenceGenerator(
{contract}
    ),
)
""")


def json_str(text):
    import json

    return json.dumps(text, ensure_ascii=False)


def load_checkpoint(path):
    saved = torch.load(path)
    c = saved["config"]
    model = Decoder(c["vocab"], dim=c["dim"], layers=c["layers"], heads=c["heads"], context=c["context"])
    model.load_state_dict(saved["state"])
    model.eval()
    return model


if __name__ == "__main__":
    import pathlib
    import sys

    # `python3 models/train/decoder.py fix-shapes <model.onnx>...`: fix_reshape_shapes on
    # shipped exports (then set each manifest's sha256 to the file's).
    if sys.argv[1:2] != ["fix-shapes"] or len(sys.argv) < 3:
        sys.exit("usage: decoder.py fix-shapes MODEL.onnx...")
    for file in sys.argv[2:]:
        print(f"{file}: {fix_reshape_shapes(pathlib.Path(file))} Reshapes take a constant shape")
