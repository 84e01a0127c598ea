"""A method-size model folder for the detect benchmark (scripts/bench-detect-resnet50): the
built-in model's three packages with the method's network instead, torchvision's ResNet50
with a 2-class head and the 5-type head, weights drawn by torchvision's own initialisation
(seeded; speed does not depend on the values), BatchNorm running statistics made
non-trivial. Writes OUT/<plane>/model.json and weights.safetensors; `ichscan export` then
adds the ONNX graphs.

Usage: python make_resnet50_model.py DEFAULT_MODEL_DIR OUT
"""
import json
import os
import sys

import torch
import torchvision
from safetensors.torch import save_file

src, out = sys.argv[1:3]
torch.manual_seed(0)
for plane in ["axial", "sagittal", "coronal"]:
    net = torchvision.models.resnet50(num_classes=2)
    state = {k: v.contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    for k in state:
        if k.endswith("running_var"):
            state[k] = torch.rand_like(state[k]) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn_like(state[k]) * 0.1
    state["type_fc.weight"] = torch.randn(5, 2048) * 0.01
    state["type_fc.bias"] = torch.zeros(5)
    meta = json.load(open(os.path.join(src, plane, "model.json")))
    meta["architecture"] = {"arch": "resnet50", "classes": 2, "in_channels": 3, "types": 5, "width": 64}
    meta["threshold"] = 0.5
    meta["training"] = {"note": "untrained: torchvision initialisation, seed 0 (speed benchmark only)"}
    meta["validation"] = {}
    meta.pop("onnx", None)
    d = os.path.join(out, plane)
    os.makedirs(d, exist_ok=True)
    save_file(state, os.path.join(d, "weights.safetensors"))
    json.dump(meta, open(os.path.join(d, "model.json"), "w"), indent=2)
    print(f"{d}: resnet50, {sum(v.numel() for v in state.values() if v.dtype == torch.float32)} values")
