//! The method's training recipe for one plane, resumable.
//!
//! * Scan-level split (see `ichscan_dataset::split`), per-epoch shuffling, random
//!   reflection, slight translation (±`shift` of the half-width) and rotation (±`rot_deg`).
//! * Adam with L2 regularisation (the L2 term added to the gradient, as in the method —
//!   not decoupled AdamW), implemented here so its moments are saved with every checkpoint
//!   and a resumed run continues exactly where it stopped.
//! * Class imbalance: the cross-entropy is weighted by inverse class frequency in the
//!   training slices (w_c = N / (2 N_c)).
//! * The type head, when present, is trained with binary cross-entropy on positive slices.
//!
//! A run folder holds `config.json`, `metrics.jsonl` (one line per epoch), and
//! `checkpoint/` (`weights.safetensors`, `adam.safetensors`, `state.json`) rewritten after
//! every epoch, plus `epoch_N.safetensors` weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ichscan_dataset::metrics::{metrics, Metrics};
use ichscan_slices::{Plane, Window};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::data::{augment, PlaneData};
use crate::resnet::{Config, ResNet};

/// Training settings; `for_plane` gives the method's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub plane: Plane,
    pub net: Config,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    pub l2: f64,
    pub seed: u64,
    pub windows: Vec<Window>,
    pub augment: bool,
    /// Translation, fraction of the half-width (0.05 = 5.6 px at 224).
    pub shift: f64,
    pub rot_deg: f64,
    /// ImageNet normalisation of the channels (pretrained weights expect it).
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl TrainConfig {
    /// The method's per-plane recipe: batch / epochs / learning rate / L2 =
    /// axial 30 / 5 / 1e-4 / 1e-8, sagittal 24 / 3 / 1e-4 / 0.005, coronal 24 / 4 / 1e-4 / 1e-8.
    pub fn for_plane(plane: Plane, net: Config) -> Self {
        let (batch, epochs, l2) = match plane {
            Plane::Axial => (30, 5, 1e-8),
            Plane::Sagittal => (24, 3, 0.005),
            Plane::Coronal => (24, 4, 1e-8),
        };
        TrainConfig {
            plane,
            net,
            batch,
            epochs,
            lr: 1e-4,
            l2,
            seed: 1,
            windows: Window::defaults(),
            augment: true,
            shift: 0.05,
            rot_deg: 10.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

/// Adam with L2 added to the gradient.
pub struct AdamL2 {
    pub lr: f64,
    pub l2: f64,
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    pub t: i64,
    m: HashMap<String, Tensor>,
    v: HashMap<String, Tensor>,
}

/// Whether the one-pass update can work on these tensors' memory directly.
fn fusable(ts: &[&Tensor]) -> bool {
    let n = ts[0].numel();
    // An empty tensor may have no memory at all (a null data pointer).
    n > 0
        && ts
            .iter()
            .all(|t| t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous() && t.numel() == n)
}

/// Adam with L2 on one CPU f32 parameter in one pass: the arithmetic of the tensor-op path
/// in [`AdamL2::step_with`], element by element (h = lr, l2, b1, b2, eps, bc1, bc2). The
/// update is memory-bound: the tensor ops read and write the parameter-sized buffers about
/// ten times and allocate four temporaries (PyTorch's default foreach Adam does much the
/// same); this reads p, g, m, v once and writes p, m, v once. The gradient is not changed.
fn fused_cpu(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: [f32; 7]) {
    use rayon::prelude::*;
    let [lr, l2, b1, b2, eps, bc1, bc2] = h;
    let n = p.numel();
    // SAFETY: four distinct, contiguous f32 CPU tensors of n elements (checked by `fusable`;
    // distinct: a parameter, its gradient and two moments made by zeros_like), alive for the
    // call; no other thread touches them during the optimizer step (no_grad, &mut self).
    // Writing behind libtorch's back skips autograd's version counter, as any optimizer
    // does under no_grad: the step must not run while a graph that saved `p` is kept.
    let (p, g, m, v) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n),
        )
    };
    let (w1, w2, step, sq2) = (1.0 - b1, 1.0 - b2, -lr / bc1, bc2.sqrt());
    const CHUNK: usize = 1 << 15;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| {
            for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = if l2 != 0.0 { g + *p * l2 } else { *g };
                *m += w1 * (g - *m); // lerp, as ATen computes it for a weight below 0.5
                *v = *v * b2 + (g * w2) * g;
                let denom = v.sqrt() / sq2 + eps;
                *p += (*m * step) / denom;
            }
        });
}

impl AdamL2 {
    pub fn new(lr: f64, l2: f64) -> Self {
        AdamL2 { lr, l2, b1: 0.9, b2: 0.999, eps: 1e-8, t: 0, m: HashMap::new(), v: HashMap::new() }
    }

    pub fn step(&mut self, vs: &VarStore) {
        self.step_with(vs, true);
    }

    /// One step; `fused` allows the one-pass CPU update (tests compare it with the other).
    /// Returns how many parameters took the one-pass update.
    pub fn step_with(&mut self, vs: &VarStore, fused: bool) -> usize {
        self.t += 1;
        let mut n_fused = 0;
        let (bc1, bc2) = (1.0 - self.b1.powi(self.t as i32), 1.0 - self.b2.powi(self.t as i32));
        tch::no_grad(|| {
            for (name, mut p) in vs.variables() {
                if !p.requires_grad() {
                    continue;
                }
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let m = self.m.entry(name.clone()).or_insert_with(|| p.zeros_like());
                let v = self.v.entry(name).or_insert_with(|| p.zeros_like());
                if fused && fusable(&[&p, &g, m, v]) {
                    let h = [self.lr, self.l2, self.b1, self.b2, self.eps, bc1, bc2].map(|x| x as f32);
                    fused_cpu(&p, &g, m, v, h);
                    n_fused += 1;
                    continue;
                }
                // In place, as PyTorch's Adam does: no per-step copies of the parameters.
                let mut g = g;
                if self.l2 != 0.0 {
                    let _ = g.g_add_(&(&p * self.l2));
                }
                let _ = m.lerp_(&g, 1.0 - self.b1);
                let _ = v.g_mul_scalar_(self.b2);
                let _ = v.addcmul_(&(&g * (1.0 - self.b2)), &g);
                let mut denom = v.sqrt();
                let _ = denom.g_div_scalar_(bc2.sqrt());
                let _ = denom.g_add_scalar_(self.eps);
                let _ = p.addcdiv_(&(&*m * (-self.lr / bc1)), &denom);
            }
        });
        n_fused
    }

    /// The first moment of parameter `name` (for tests).
    pub fn moment(&self, name: &str) -> Option<&Tensor> {
        self.m.get(name)
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut named: Vec<(String, &Tensor)> = Vec::new();
        for (k, t) in &self.m {
            named.push((format!("m.{k}"), t));
        }
        for (k, t) in &self.v {
            named.push((format!("v.{k}"), t));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::write_safetensors(&named, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(&mut self, path: &Path, device: Device) -> Result<(), String> {
        for (k, t) in Tensor::read_safetensors(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let t = t.to_device(device);
            if let Some(n) = k.strip_prefix("m.") {
                self.m.insert(n.to_string(), t);
            } else if let Some(n) = k.strip_prefix("v.") {
                self.v.insert(n.to_string(), t);
            }
        }
        Ok(())
    }
}

/// Progress events for a user interface.
pub enum Progress<'a> {
    Epoch { epoch: usize, epochs: usize, batches: usize },
    Batch { done: usize, loss: f64, images_per_s: f64 },
    Validated { epoch: usize, metrics: &'a Metrics, train_loss: f64 },
}

/// Where a run stands; saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs completed.
    pub epoch: usize,
    pub adam_t: i64,
}

/// One epoch's record in `metrics.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord<'a> {
    pub epoch: usize,
    pub train_loss: f64,
    pub val: &'a Metrics,
    pub seconds: f64,
    /// Of `seconds`, the time spent assembling and augmenting batches.
    pub batch_seconds: f64,
    pub images_per_s: f64,
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(x: &mut u64) -> f64 {
    (splitmix(x) >> 11) as f64 / (1u64 << 53) as f64
}

/// Normalised model input from windowed channels.
fn normalise(x: &Tensor, cfg: &TrainConfig) -> Tensor {
    let c = x.size()[1] as usize;
    let mean: Vec<f32> = (0..c).map(|i| cfg.mean[i.min(2)]).collect();
    let std: Vec<f32> = (0..c).map(|i| cfg.std[i.min(2)]).collect();
    let dev = x.device();
    (x - Tensor::from_slice(&mean).view([1, -1, 1, 1]).to_device(dev))
        / Tensor::from_slice(&std).view([1, -1, 1, 1]).to_device(dev)
}

/// P(haemorrhage) for every sample of `data`, in batches.
pub fn predict(net: &ResNet, data: &PlaneData, cfg: &TrainConfig, device: Device) -> Vec<f64> {
    let mut out = Vec::with_capacity(data.samples.len());
    let idx: Vec<usize> = (0..data.samples.len()).collect();
    tch::no_grad(|| {
        for chunk in idx.chunks(cfg.batch.max(1)) {
            let (x, _, _) = data.batch(chunk, &cfg.windows, device);
            let logits = net.forward(&normalise(&x, cfg), false).logits;
            let p = logits.softmax(1, Kind::Float).select(1, 0).to_device(Device::Cpu);
            out.extend(Vec::<f32>::try_from(&p).expect("f32").into_iter().map(f64::from));
        }
    });
    out
}

/// Slice metrics of `net` on `val` at the 0.5 threshold.
fn validate(net: &ResNet, val: &PlaneData, cfg: &TrainConfig, device: Device) -> Metrics {
    let scores = predict(net, val, cfg, device);
    let labels: Vec<bool> = val.samples.iter().map(|s| s.label.any).collect();
    metrics(&scores, &labels, 0.5)
}

/// How to run: where, resuming or not, from which weights.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub device: Device,
    /// Continue from `run_dir/checkpoint` when it exists.
    pub resume: bool,
    /// Initial weights (e.g. ImageNet, torchvision layout) for a fresh run.
    pub weights: Option<PathBuf>,
}

/// Trains (or resumes, when `run_dir/checkpoint/state.json` exists and `opts.resume`) and
/// returns the last epoch's validation metrics.
pub fn train(
    run_dir: &Path,
    cfg: &TrainConfig,
    train: &PlaneData,
    val: &PlaneData,
    opts: &RunOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Metrics, String> {
    let (device, resume) = (opts.device, opts.resume);
    crate::alloc::keep_freed_memory();
    if train.samples.is_empty() || val.samples.is_empty() {
        return Err(format!(
            "no labelled slices to train on ({} train, {} validation)",
            train.samples.len(),
            val.samples.len()
        ));
    }
    let ck = run_dir.join("checkpoint");
    std::fs::create_dir_all(&ck).map_err(|e| format!("{}: {e}", ck.display()))?;
    let mut vs = VarStore::new(device);
    tch::manual_seed(cfg.seed as i64);
    let net = ResNet::new(&vs.root(), cfg.net);
    let mut opt = AdamL2::new(cfg.lr, cfg.l2);
    let mut start = 0;
    let state_path = ck.join("state.json");
    if resume && state_path.exists() {
        let st: RunState = serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", state_path.display()))?;
        crate::weights::load_safetensors(&mut vs, &ck.join("weights.safetensors")).map_err(|e| e.to_string())?;
        opt.load(&ck.join("adam.safetensors"), device)?;
        opt.t = st.adam_t;
        start = st.epoch;
    } else {
        if let Some(w) = &opts.weights {
            crate::weights::load_weights(&mut vs, w).map_err(|e| e.to_string())?;
        }
        let _ = std::fs::remove_file(run_dir.join("metrics.jsonl"));
        std::fs::write(run_dir.join("config.json"), serde_json::to_string_pretty(cfg).expect("json"))
            .map_err(|e| e.to_string())?;
    }
    let n_pos = train.positives().max(1) as f64;
    let n_neg = (train.samples.len() - train.positives()).max(1) as f64;
    let n = train.samples.len() as f64;
    let class_w = Tensor::from_slice(&[(n / (2.0 * n_pos)) as f32, (n / (2.0 * n_neg)) as f32]).to_device(device);
    let mut last = None;
    for epoch in start..cfg.epochs {
        let t0 = std::time::Instant::now();
        // The epoch's shuffle and augmentation draws depend only on (seed, epoch).
        let mut rng = cfg.seed ^ (epoch as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut order: Vec<usize> = (0..train.samples.len()).collect();
        for i in (1..order.len()).rev() {
            let j = (splitmix(&mut rng) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let batches: Vec<&[usize]> = order.chunks(cfg.batch.max(1)).collect();
        progress(Progress::Epoch { epoch: epoch + 1, epochs: cfg.epochs, batches: batches.len() });
        let mut loss_sum = 0.0;
        let mut seen = 0usize;
        // Time spent making batches (windows, augmentation) vs the whole epoch: data
        // loading must not starve the model.
        let mut load_s = 0.0;
        for (bi, idx) in batches.iter().enumerate() {
            let tl = std::time::Instant::now();
            let (x, y, types) = train.batch(idx, &cfg.windows, device);
            let x = if cfg.augment {
                let r: Vec<f64> = (0..idx.len() * 4).map(|_| uniform(&mut rng)).collect();
                augment(&x, &r, cfg.shift, cfg.rot_deg)
            } else {
                x
            };
            load_s += tl.elapsed().as_secs_f64();
            let out = net.forward(&normalise(&x, cfg), true);
            let mut loss =
                out.logits.cross_entropy_loss::<&Tensor>(&y, Some(&class_w), tch::Reduction::Mean, -100, 0.0);
            if let Some(t) = &out.types {
                // Types are learned on positive slices only.
                let pos = y.eq(0).to_kind(Kind::Float).unsqueeze(1);
                let bce = t.binary_cross_entropy_with_logits::<Tensor>(&types, None, None, tch::Reduction::None);
                let denom = pos.sum(Kind::Float) * cfg.net.types as f64 + 1.0;
                loss += (bce * &pos).sum(Kind::Float) / denom;
            }
            for mut p in vs.trainable_variables() {
                p.zero_grad();
            }
            loss.backward();
            opt.step(&vs);
            let l = loss.double_value(&[]);
            loss_sum += l * idx.len() as f64;
            seen += idx.len();
            progress(Progress::Batch { done: bi + 1, loss: l, images_per_s: seen as f64 / t0.elapsed().as_secs_f64() });
        }
        let m = validate(&net, val, cfg, device);
        let train_loss = loss_sum / seen.max(1) as f64;
        progress(Progress::Validated { epoch: epoch + 1, metrics: &m, train_loss });
        // Checkpoint: weights, optimiser moments, state; then the epoch's record.
        vs.save(ck.join("weights.safetensors")).map_err(|e| e.to_string())?;
        vs.save(run_dir.join(format!("epoch_{}.safetensors", epoch + 1))).map_err(|e| e.to_string())?;
        opt.save(&ck.join("adam.safetensors"))?;
        let st = RunState { epoch: epoch + 1, adam_t: opt.t };
        std::fs::write(&state_path, serde_json::to_string(&st).expect("json")).map_err(|e| e.to_string())?;
        let rec = EpochRecord {
            epoch: epoch + 1,
            train_loss,
            val: &m,
            seconds: t0.elapsed().as_secs_f64(),
            batch_seconds: load_s,
            images_per_s: seen as f64 / t0.elapsed().as_secs_f64(),
        };
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_dir.join("metrics.jsonl"))
            .map_err(|e| e.to_string())?;
        writeln!(f, "{}", serde_json::to_string(&rec).expect("json")).map_err(|e| e.to_string())?;
        last = Some(m);
    }
    match last {
        Some(m) => Ok(m),
        None => {
            // Already complete: report the saved model's validation metrics.
            Ok(validate(&net, val, cfg, device))
        }
    }
}

/// The run folder's final weights.
pub fn final_weights(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint").join("weights.safetensors")
}

/// The model package's metadata for a model trained with `cfg` on `plane_cfg` slices
/// (see `ichscan_model::package` for the contract).
pub fn package_meta(
    cfg: &TrainConfig,
    plane_cfg: ichscan_slices::PlaneConfig,
    training: serde_json::Value,
    validation: serde_json::Value,
) -> ichscan_model::ModelMeta {
    ichscan_model::ModelMeta {
        format_version: ichscan_model::package::FORMAT_VERSION,
        architecture: serde_json::to_value(cfg.net).expect("json"),
        plane: cfg.plane,
        input: ichscan_model::InputSpec {
            size: plane_cfg.size,
            channels: cfg.windows.clone(),
            mean: (0..cfg.windows.len()).map(|i| cfg.mean[i.min(2)]).collect(),
            std: (0..cfg.windows.len()).map(|i| cfg.std[i.min(2)]).collect(),
            step_mm: plane_cfg.step_mm,
            slab_mm: plane_cfg.slab_mm,
            fov_mm: plane_cfg.fov_mm,
        },
        labels: vec!["haemorrhage".into(), "healthy".into()],
        type_labels: if cfg.net.types > 0 {
            ichscan_dataset::TYPES.iter().map(|t| t.to_string()).collect()
        } else {
            vec![]
        },
        threshold: 0.5,
        calibration: serde_json::json!({ "probability": "softmax of the logits, not calibrated" }),
        training,
        validation,
        onnx: None,
        weights: Some("weights.safetensors".into()),
    }
}

/// Writes the run's final weights and `meta` as a package in `run_dir/model`; returns its folder.
pub fn write_package(run_dir: &Path, meta: &ichscan_model::ModelMeta) -> Result<PathBuf, String> {
    let pkg = run_dir.join("model");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    std::fs::copy(final_weights(run_dir), pkg.join("weights.safetensors"))
        .map_err(|e| format!("{}: {e}", pkg.display()))?;
    ichscan_model::Package::write_meta(&pkg, meta).map_err(|e| e.to_string())?;
    Ok(pkg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VarStore with two parameters (one large enough for several chunks) whose gradients
    /// are `c` everywhere: loss = sum(c * p).
    fn store(c: f64) -> VarStore {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().var("a", &[3, 5], tch::nn::Init::Const(1.0));
        let b = vs.root().var("b", &[70_001], tch::nn::Init::Uniform { lo: -1.0, up: 1.0 });
        ((&a * c).sum(Kind::Float) + (&b * c).sum(Kind::Float)).backward();
        vs
    }

    #[test]
    fn first_adam_step_by_hand() {
        // p = 1, g = 0.5, L2 0.01: g' = 0.51; m = 0.1 g', v = 0.001 g'^2; bias-corrected,
        // m / sqrt(v) = g' / |g'| = 1, so p = 1 - lr = 0.9 (eps 1e-8 is negligible).
        for fused in [true, false] {
            let vs = store(0.5);
            let mut opt = AdamL2::new(0.1, 0.01);
            assert_eq!(opt.step_with(&vs, fused), if fused { 2 } else { 0 });
            let a = vs.variables()["a"].shallow_clone();
            let got: Vec<f32> = Vec::try_from(&a.flatten(0, -1)).unwrap();
            assert!(got.iter().all(|x| (x - 0.9).abs() < 1e-6), "fused {fused}: {got:?}");
            let m: Vec<f32> = Vec::try_from(&opt.moment("a").unwrap().flatten(0, -1)).unwrap();
            assert!(m.iter().all(|x| (x - 0.051).abs() < 1e-7), "fused {fused}: m {m:?}");
        }
    }

    #[test]
    fn fused_step_equals_tensor_ops() {
        let (vs1, vs2) = (store(0.3), store(0.3));
        tch::no_grad(|| vs2.variables()["b"].shallow_clone().copy_(&vs1.variables()["b"]));
        let (mut o1, mut o2) = (AdamL2::new(1e-3, 0.005), AdamL2::new(1e-3, 0.005));
        for _ in 0..3 {
            // The tensor path adds the L2 term into the gradient in place: give both the
            // same fresh gradient each step.
            for vs in [&vs1, &vs2] {
                for (_, p) in vs.variables() {
                    tch::no_grad(|| {
                        let _ = p.grad().fill_(0.3);
                    });
                }
            }
            assert_eq!(o1.step_with(&vs1, true), 2, "both parameters take the one-pass update");
            assert_eq!(o2.step_with(&vs2, false), 0);
        }
        for name in ["a", "b"] {
            let d = (&vs1.variables()[name] - &vs2.variables()[name]).abs().max().double_value(&[]);
            let dm = (o1.moment(name).unwrap() - o2.moment(name).unwrap()).abs().max().double_value(&[]);
            assert!(d < 1e-6 && dm < 1e-7, "{name}: params differ by {d}, moments by {dm}");
        }
    }
}
