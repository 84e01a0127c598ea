"""PyTorch's side of the inference benchmark (scripts/bench-infer): images/s of torchvision
ResNet18 and ResNet50 (2-class head) at batch 16, 3 x 224 x 224, in four CPU configurations:

  eager f32                      the plain script users write
  channels-last f32              memory format oneDNN prefers
  channels-last frozen TorchScript f32 (trace + freeze: folds BatchNorm, fuses ops)
  channels-last bf16 autocast    bf16 matmul/conv on CPUs with AVX-512 bf16 / AMX

Writes each network's weights (seeded random init) as a torchvision state dict in
safetensors to OUT_DIR, so ichscan's side (benches/infer_speed.rs) runs the very same
models. Usage: python infer_speed_pytorch.py OUT_DIR
"""
import os
import sys
import time

import torch
import torchvision
from safetensors.torch import save_file

out = sys.argv[1]
threads = int(os.environ.get("BENCH_THREADS", "2"))
reps = int(os.environ.get("BENCH_REPS", "8"))
torch.set_num_threads(threads)
os.makedirs(out, exist_ok=True)


def rate(fn, x):
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    times.sort()
    return 16 / times[len(times) // 2]


print(f"PyTorch {torch.__version__}, batch 16, 3x224x224, {threads} threads, median of {reps} batches after 3 warm-up")
for name in ["resnet18", "resnet50"]:
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(num_classes=2).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(out, f"{name}.safetensors"))
    x = torch.randn(16, 3, 224, 224)
    xc = x.contiguous(memory_format=torch.channels_last)
    res = {"eager f32": rate(net, x)}
    netc = getattr(torchvision.models, name)(num_classes=2).eval()
    netc.load_state_dict(net.state_dict())
    netc = netc.to(memory_format=torch.channels_last)
    res["channels-last f32"] = rate(netc, xc)
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(netc, xc))
    res["channels-last frozen TorchScript f32"] = rate(frozen, xc)

    def bf16(v):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return netc(v)

    res["channels-last bf16 autocast"] = rate(bf16, xc)
    for k, v in res.items():
        print(f"  pytorch {k} {name}: {v:.2f} images/s")
    sys.stdout.flush()
