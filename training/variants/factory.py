"""Offline model factory: trains the four reference variants of one workload with PyTorch.

Reads the data set and a spec written by build.ts (training/variants), writes each variant's
layer weights as raw little-endian files plus reference outputs on a verification batch. The
ONNX graphs are assembled in TypeScript (onnx-graph.ts) from these weights, so the served bytes
come from one builder; this script only does what needs a training library.

Variants:
  full       the teacher MLP, trained on the labels
  distilled  a small student trained on the teacher's soft labels (temperature T)
  pruned     the teacher with the least important hidden units removed, then fine-tuned
  quantized  the teacher with int8 weights (per output column, symmetric, 7-bit range so that
             u8*s8 kernels without VNNI cannot saturate), activations quantized at run time the
             way ONNX DynamicQuantizeLinear does; the forward pass below emulates the int8 graph

Progress goes to stdout as JSON lines.
"""
import base64
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def log(**event):
    print(json.dumps(event), flush=True)


def load_split(work: Path, meta: dict):
    def features(name, rows):
        return torch.from_numpy(np.fromfile(work / name, dtype="<f4").reshape(rows, meta["dim"]).copy())

    def labels(name):
        return torch.from_numpy(np.fromfile(work / name, dtype="<i4").astype(np.int64))

    return (
        features("train-x.f32", meta["train_rows"]), labels("train-y.i32"),
        features("test-x.f32", meta["test_rows"]), labels("test-y.i32"),
    )


class Mlp(torch.nn.Module):
    """Linear+ReLU hidden layers (the encoder) and one linear output layer (the head)."""

    def __init__(self, dims, dropout=0.0):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout  # training only: an identity in eval mode, so the exported graph has none

    def embed(self, x):
        for layer in self.layers[:-1]:
            x = F.dropout(F.relu(layer(x)), self.dropout, self.training)
        return x

    def forward(self, x):
        return self.layers[-1](self.embed(x))


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(role, model, x, y, test_x, test_y, epochs, lr, batch, seed, loss_fn):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    for epoch in range(epochs):
        started = time.time()
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch):
            index = order[start:start + batch]
            optimizer.zero_grad()
            loss = loss_fn(model, x[index], y[index], index)
            loss.backward()
            optimizer.step()
            total += float(loss) * len(index)
        scheduler.step()
        model.eval()
        log(event="epoch", role=role, epoch=epoch + 1, epochs=epochs, loss=total / len(x),
            test_accuracy=accuracy(model, test_x, test_y), seconds=round(time.time() - started, 2))
    return model


def hard_loss(model, xb, yb, _index):
    return F.cross_entropy(model(xb), yb)


def prune(teacher, keep, dims):
    """Structural pruning: keep the hidden units with the largest |in| * |out| weight norms."""
    layers = teacher.layers
    kept = []
    for i in range(len(layers) - 1):
        incoming = layers[i].weight.detach().norm(dim=1)
        outgoing = layers[i + 1].weight.detach().norm(dim=0)
        count = max(1, int(round(dims[i + 1] * keep)))
        kept.append(torch.sort(torch.topk(incoming * outgoing, count).indices).values)
    new_dims = [dims[0]] + [len(k) for k in kept] + [dims[-1]]
    student = Mlp(new_dims)
    with torch.no_grad():
        for i, layer in enumerate(student.layers):
            weight = layers[i].weight.detach()
            bias = layers[i].bias.detach()
            rows = kept[i] if i < len(kept) else torch.arange(weight.shape[0])
            cols = kept[i - 1] if i > 0 else torch.arange(weight.shape[1])
            layer.weight.copy_(weight[rows][:, cols])
            layer.bias.copy_(bias[rows])
    return student, new_dims


def round_half_even(x):
    return torch.round(x)  # torch.round rounds half to even, as ONNX QuantizeLinear does


def quantize_weights(model, levels):
    """Per output column symmetric int8 (W as x @ W: [in, out])."""
    quantized = []
    for layer in model.layers:
        w = layer.weight.detach().t().contiguous()  # [in, out]
        scale = w.abs().amax(dim=0).clamp(min=1e-12) / levels
        q = round_half_even(w / scale).clamp(-levels, levels).to(torch.int8)
        quantized.append((q, scale.float(), layer.bias.detach().float()))
    return quantized


def dynamic_quantize_rows(x):
    """ONNX DynamicQuantizeLinear (uint8 output) applied to each row on its own, which is what
    the int8 graph computes when it serves one request at a time."""
    low = torch.clamp(x.min(dim=1, keepdim=True).values, max=0.0)
    high = torch.clamp(x.max(dim=1, keepdim=True).values, min=0.0)
    scale = (high - low) / 255.0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    zero_point = torch.clamp(round_half_even(-low / scale), 0, 255)
    q = torch.clamp(round_half_even(x / scale) + zero_point, 0, 255)
    return q, scale, zero_point


def quantized_forward(quantized, x):
    """Emulates the int8 ONNX graph at batch 1 for every row of x; returns (embedding, logits)."""
    h = x
    embedding = None
    for i, (q, w_scale, bias) in enumerate(quantized):
        if i == len(quantized) - 1:
            embedding = h
        hq, h_scale, zero_point = dynamic_quantize_rows(h)
        acc = (hq - zero_point).double() @ q.double()  # exact integer arithmetic
        h = acc.float() * (h_scale * w_scale) + bias
        if i < len(quantized) - 1:
            h = F.relu(h)
    return embedding, h


def write_tensor(out: Path, name: str, tensor, dtype):
    data = np.ascontiguousarray(tensor.detach().cpu().numpy().astype(dtype))
    data.tofile(out / name)
    return name


def export_fp32(out: Path, role: str, model):
    layers = []
    for i, layer in enumerate(model.layers):
        layers.append({
            "kind": "fp32",
            "in": layer.in_features, "out": layer.out_features,
            "weight": write_tensor(out, f"{role}-{i}-w.f32", layer.weight.t(), "<f4"),
            "bias": write_tensor(out, f"{role}-{i}-b.f32", layer.bias, "<f4"),
        })
    return layers


def export_int8(out: Path, role: str, quantized, levels):
    layers = []
    for i, (q, scale, bias) in enumerate(quantized):
        layers.append({
            "kind": "int8",
            "in": q.shape[0], "out": q.shape[1], "levels": levels,
            "weight": write_tensor(out, f"{role}-{i}-w.i8", q, "i1"),
            "scale": write_tensor(out, f"{role}-{i}-s.f32", scale, "<f4"),
            "bias": write_tensor(out, f"{role}-{i}-b.f32", bias, "<f4"),
        })
    return layers


def b64(tensor):
    return base64.b64encode(np.ascontiguousarray(tensor.detach().numpy().astype("<f4")).tobytes()).decode()


def main():
    work = Path(sys.argv[1])
    spec = json.loads((work / "spec.json").read_text())
    meta = json.loads((work / "data.json").read_text())
    torch.set_num_threads(spec.get("threads", 2))
    torch.manual_seed(spec["seed"])
    x, y, test_x, test_y = load_split(work, meta)
    dims_full = [meta["dim"], *spec["full"]["hidden"], meta["classes"]]
    out = work / "weights"
    out.mkdir(exist_ok=True)
    log(event="start", workload=meta["name"], train_rows=len(x), test_rows=len(test_x),
        threads=torch.get_num_threads(), torch=torch.__version__)

    full = train("full", Mlp(dims_full, spec["full"].get("dropout", 0.0)), x, y, test_x, test_y, seed=spec["seed"], loss_fn=hard_loss,
                 **spec["full"]["train"])
    full.eval()

    with torch.no_grad():
        teacher_logits = full(x)
    temperature = spec["distilled"]["temperature"]

    def soft_loss(model, xb, _yb, index):
        student = F.log_softmax(model(xb) / temperature, dim=1)
        teacher = F.softmax(teacher_logits[index] / temperature, dim=1)
        return F.kl_div(student, teacher, reduction="batchmean") * temperature * temperature

    torch.manual_seed(spec["seed"] + 1)
    dims_distilled = [meta["dim"], *spec["distilled"]["hidden"], meta["classes"]]
    distilled = train("distilled", Mlp(dims_distilled), x, y, test_x, test_y, seed=spec["seed"] + 1,
                      loss_fn=soft_loss, **spec["distilled"]["train"])

    pruned, dims_pruned = prune(full, spec["pruned"]["keep"], dims_full)
    log(event="pruned", dims=dims_pruned, accuracy_before_finetune=accuracy(pruned, test_x, test_y))
    pruned = train("pruned", pruned, x, y, test_x, test_y, seed=spec["seed"] + 2, loss_fn=hard_loss,
                   **spec["pruned"]["train"])

    levels = spec["quantized"]["levels"]
    quantized = quantize_weights(full, levels)

    roles = {}
    reference_x = test_x[: spec["reference_rows"]]
    with torch.no_grad():
        for role, model, dims in (("full", full, dims_full), ("distilled", distilled, dims_distilled),
                                  ("pruned", pruned, dims_pruned)):
            model.eval()
            roles[role] = {
                "dims": dims,
                "layers": export_fp32(out, role, model),
                "torch_accuracy": accuracy(model, test_x, test_y),
                "reference": {"embedding": b64(model.embed(reference_x)), "logits": b64(model(reference_x))},
            }
        q_embedding, q_logits = quantized_forward(quantized, reference_x)
        _, q_all = quantized_forward(quantized, test_x)
        roles["quantized"] = {
            "dims": dims_full,
            "layers": export_int8(out, "quantized", quantized, levels),
            "torch_accuracy": float((q_all.argmax(1) == test_y).float().mean()),
            "reference": {"embedding": b64(q_embedding), "logits": b64(q_logits)},
        }
    result = {
        "workload": meta["name"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "reference_rows": int(len(reference_x)),
        "reference_input": b64(reference_x),
        "roles": roles,
    }
    (work / "factory.json").write_text(json.dumps(result))
    log(event="done", accuracy={role: roles[role]["torch_accuracy"] for role in roles})


if __name__ == "__main__":
    main()
