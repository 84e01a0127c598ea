"""PyTorch's side of the detect benchmark (scripts/bench-detect): the same classification of
the same slices with the same model as `ichscan detect`, in PyTorch's CPU configurations.

Inputs: INPUTS.safetensors written by `ichscan detect --save-inputs` (per plane, the
windowed and normalised network input of every scored slice, exactly what ichscan feeds
ONNX Runtime), MODEL_DIR with <plane>/weights.safetensors and <plane>/model.json (the
package, torchvision names), and REPORT.json of an `ichscan detect --f32` run on the same
scan, to check that PyTorch computes the probabilities ichscan reported.

Each configuration classifies all three planes (batches of 16, as ichscan), P = softmax
class 0 and sigmoid type probabilities, median of REPS passes after one warm-up:

  eager f32, channels-last f32, channels-last frozen TorchScript f32, channels-last bf16
  autocast

Usage: python detect_speed_pytorch.py INPUTS.safetensors MODEL_DIR REPORT.json
Prints "pytorch <config>: <seconds> s" lines and the agreement with the report.
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

inputs_path, model_dir, report_path = sys.argv[1:4]
threads = int(os.environ.get("BENCH_THREADS", "2"))
reps = int(os.environ.get("BENCH_REPS", "5"))
torch.set_num_threads(threads)
# As ichscan does (FTZ/DAZ): a model trained with a large L2 has denormal weights, which
# slow every CPU kernel that meets them.
torch.set_flush_denormal(True)
PLANES = ["axial", "sagittal", "coronal"]
BATCH = 16
LAYERS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3])}


class ResNet(nn.Module):
    """torchvision's ResNet at any stem width (torchvision fixes 64), with ichscan's
    optional type head; parameter names are torchvision's."""

    def __init__(self, arch, width, in_ch, classes, types):
        super().__init__()
        block, layers = LAYERS[arch]
        self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = width
        for i, n in enumerate(layers):
            planes, stride = width * 2 ** i, 1 if i == 0 else 2
            down = None
            if stride != 1 or inp != planes * block.expansion:
                down = nn.Sequential(nn.Conv2d(inp, planes * block.expansion, 1, stride, bias=False),
                                     nn.BatchNorm2d(planes * block.expansion))
            blocks = [block(inp, planes, stride, down)]
            inp = planes * block.expansion
            blocks += [block(inp, planes) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inp, classes)
        self.type_fc = nn.Linear(inp, types) if types else None

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        p = torch.softmax(self.fc(x), 1)[:, 0]
        if self.type_fc is None:
            return p, p[:0]
        return p, torch.sigmoid(self.type_fc(x))


def load(plane):
    meta = json.load(open(os.path.join(model_dir, plane, "model.json")))
    sd = load_file(os.path.join(model_dir, plane, "weights.safetensors"))
    width = sd["conv1.weight"].shape[0]
    types = sd["type_fc.weight"].shape[0] if "type_fc.weight" in sd else 0
    arch = meta["architecture"]
    # ichscan writes {"arch", "width", ...}; the contract also allows a plain name.
    arch = arch["arch"] if isinstance(arch, dict) else arch
    net = ResNet(arch, width, sd["conv1.weight"].shape[1], sd["fc.weight"].shape[0], types)
    net.load_state_dict({k: v for k, v in sd.items()}, strict=True)
    return net.eval()


x = load_file(inputs_path)
nets = {p: load(p) for p in PLANES}
data = {p: x[p] for p in PLANES}
n_slices = sum(v.shape[0] for v in data.values())


def classify(models, mem):
    out = {}
    with torch.inference_mode():
        for p in PLANES:
            xs = data[p].contiguous(memory_format=mem) if mem else data[p]
            ps = [models[p](xs[i:i + BATCH])[0] for i in range(0, xs.shape[0], BATCH)]
            out[p] = torch.cat(ps)
    return out


def timed(fn):
    fn()
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        r = fn()
        t.append(time.perf_counter() - s)
    t.sort()
    return t[len(t) // 2], r


cl = torch.channels_last
netc = {p: load(p).to(memory_format=cl) for p in PLANES}
with torch.inference_mode():
    frozen = {p: torch.jit.freeze(torch.jit.trace(netc[p], data[p][:BATCH].contiguous(memory_format=cl)))
              for p in PLANES}


def bf16():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return classify(netc, cl)


configs = {
    "eager f32": lambda: classify(nets, None),
    "channels-last f32": lambda: classify(netc, cl),
    "channels-last frozen TorchScript f32": lambda: classify(frozen, cl),
    "channels-last bf16 autocast": bf16,
}
print(f"PyTorch {torch.__version__}, {n_slices} slices "
      f"({', '.join(f'{data[p].shape[0]} {p}' for p in PLANES)}), batch {BATCH}, {threads} threads, "
      f"median of {reps} after 1 warm-up")
report = json.load(open(report_path))
for name, fn in configs.items():
    sec, out = timed(fn)
    worst = 0.0
    flips = 0
    for p in PLANES:
        idx = x[f"{p}_slices"].long().tolist()
        ref = torch.tensor([report["planes"][p]["p"][i] for i in idx])
        worst = max(worst, (out[p].float() - ref).abs().max().item())
        thr = report["planes"][p]["threshold"]
        flips += int(((out[p].float() >= thr) != (ref >= thr)).sum())
    print(f"  pytorch {name}: {sec:.3f} s  (vs ichscan f32 report: max |dP| {worst:.2e}, {flips} decision(s) differ)")
    sys.stdout.flush()
