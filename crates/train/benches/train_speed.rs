//! Training throughput of ichscan's tch ResNets on CPU: images/s for one training step
//! (forward, cross-entropy, backward, Adam+L2 update) at batch 16, 3 x 224 x 224, median
//! of the timed steps. `scripts/bench-train` runs this beside the same step in PyTorch.
//! Run: `cargo bench -p ichscan-train --bench train_speed` (after setup-python).

use std::time::Instant;

use ichscan_train::train::AdamL2;
use ichscan_train::{Arch, Config, ResNet};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn main() {
    let threads: i32 = std::env::var("BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = std::env::var("BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    // As `ichscan train` does (ichscan_train::train::train).
    ichscan_train::alloc::keep_freed_memory();
    println!("tch 0.24 (libtorch 2.11.0) train step, batch 16, 3x224x224, {threads} threads, median of {steps} steps after 2 warm-up");
    for arch in [Arch::Resnet18, Arch::Resnet50] {
        let vs = VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), Config::new(arch));
        let mut opt = AdamL2::new(1e-4, 1e-8);
        let x = Tensor::randn([16, 3, 224, 224], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1].repeat(8));
        let mut times = Vec::new();
        for s in 0..steps + 2 {
            let t = Instant::now();
            for mut p in vs.trainable_variables() {
                p.zero_grad();
            }
            let loss = net.forward(&x, true).logits.cross_entropy_for_logits(&y);
            loss.backward();
            opt.step(&vs);
            if s >= 2 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let med = times[times.len() / 2];
        println!("  {arch:?}: {:.2} images/s ({med:.3} s/step)", 16.0 / med);
    }
}
