"""The same training step as benches/train_speed.rs in PyTorch eager f32 (torchvision
ResNet with a 2-class head, cross-entropy, Adam with L2 weight decay), for the side-by-side
comparison that scripts/bench-train runs. Prints images/s per network."""
import os
import sys
import time

import torch
import torchvision

threads = int(os.environ.get("BENCH_THREADS", "2"))
steps = int(os.environ.get("BENCH_STEPS", "6"))
torch.set_num_threads(threads)
torch.manual_seed(0)
print(f"PyTorch {torch.__version__} eager f32 train step, batch 16, 3x224x224, {threads} threads, "
      f"median of {steps} steps after 2 warm-up")
for name in ["resnet18", "resnet50"]:
    net = getattr(torchvision.models, name)(num_classes=2)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-8)
    x = torch.randn(16, 3, 224, 224)
    y = torch.tensor([0, 1] * 8)
    times = []
    for s in range(steps + 2):
        t = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if s >= 2:
            times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    print(f"  {name}: {16 / med:.2f} images/s ({med:.3f} s/step)")
sys.stdout.flush()
