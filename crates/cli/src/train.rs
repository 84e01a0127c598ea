//! `ichscan train`: the method's per-plane training on a scan list with labels.

use std::path::PathBuf;

use ichscan_dataset::metrics::{metrics, youden_threshold};
use ichscan_dataset::split::{split, Split};
use ichscan_slices::{Plane, PlaneConfig};
use ichscan_train::data::{build, read_manifest, LabelSources};
use ichscan_train::train::{train, Progress, RunOptions, TrainConfig};
use ichscan_train::{Arch, Config};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Label files beside the scan list.
#[derive(clap::Args, Clone)]
pub struct LabelArgs {
    /// CQ500 reads.csv: scan-level majority reads by scan name (negative scans: all slices negative).
    #[arg(long)]
    pub reads: Option<PathBuf>,
    /// BHX box CSV(s): 2D boxes by SOPInstanceUID, stacked into 3D regions for every plane.
    #[arg(long)]
    pub bhx: Vec<PathBuf>,
    /// RSNA challenge label CSV (ID_<sop>_<type>,Label): axial slice labels.
    #[arg(long)]
    pub rsna: Option<PathBuf>,
    /// Explicit slice labels: scan,plane,index|position_mm,any[,types...].
    #[arg(long)]
    pub slice_labels: Option<PathBuf>,
}

impl LabelArgs {
    /// The label sources, and the scan-level reads applied to `entries`.
    pub fn load(&self, entries: &mut [ichscan_train::data::ScanEntry]) -> Result<LabelSources, String> {
        use ichscan_dataset::labels;
        let mut src = LabelSources::default();
        for b in &self.bhx {
            src.bhx.extend(labels::bhx_boxes(b).map_err(|e| e.to_string())?);
        }
        if let Some(r) = &self.rsna {
            src.rsna = labels::rsna_labels(r).map_err(|e| e.to_string())?;
        }
        if let Some(c) = &self.slice_labels {
            src.slices = labels::slice_csv(c).map_err(|e| e.to_string())?;
        }
        if let Some(r) = &self.reads {
            let reads = labels::cq500_reads(r).map_err(|e| e.to_string())?;
            for e in entries.iter_mut() {
                if let Some(l) = reads.get(&e.name) {
                    e.scan_label = Some(*l);
                }
            }
        }
        Ok(src)
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Scan list: `scan,path[,mask]` (paths relative to the list), e.g. the manifest `ichscan
    /// synth` writes (case,path,has_haemorrhage,types,mask,json).
    #[arg(long)]
    pub manifest: PathBuf,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// axial, sagittal, coronal or all.
    #[arg(long, default_value = "all")]
    pub plane: String,
    /// Run folder (created): config, split, metrics, checkpoints and model packages.
    #[arg(long)]
    pub out: PathBuf,
    /// resnet18, resnet34 or resnet50 (the method's).
    #[arg(long, default_value = "resnet50")]
    pub arch: String,
    /// Channel width of the stem (64 = torchvision; smaller for quick experiments).
    #[arg(long, default_value_t = 64)]
    pub width: i64,
    /// ImageNet (or other) weights in torchvision layout: .safetensors, or a PyTorch
    /// state-dict checkpoint (.pth, .pt, .bin); none = from scratch.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Train the 5-output type head too.
    #[arg(long)]
    pub types: bool,
    /// Override the recipe's epochs / batch / learning rate / L2.
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub l2: Option<f64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reuse this split file instead of making a new 7:3 one.
    #[arg(long)]
    pub split: Option<PathBuf>,
    /// Image side in pixels.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Positive slice: mean haemorrhage cross-section over the slab at least this, mm².
    #[arg(long)]
    pub min_area: Option<f64>,
    /// cpu, cuda, or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No augmentation (reflection, translation, rotation).
    #[arg(long)]
    pub no_augment: bool,
}

/// A line above the progress bar, or on stderr when there is no terminal to draw on.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub fn device(s: &str) -> Result<tch::Device, String> {
    match s {
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => Ok(tch::Device::Cuda(0)),
        _ => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Ok(tch::Device::Cuda(n)),
            None => Err(format!("--device {s}: expected cpu, cuda or cuda:N")),
        },
    }
    .and_then(|d| match d {
        tch::Device::Cuda(n) => {
            ichscan_train::cuda::enable().map_err(|e| format!("--device {s}: {e}"))?;
            let count = tch::Cuda::device_count();
            if count <= n as i64 {
                Err(format!("--device {s}: libtorch's CUDA is loaded but sees {count} GPU(s)"))
            } else {
                Ok(d)
            }
        }
        d => Ok(d),
    })
}

pub fn run(a: Args) -> Result<u8, String> {
    let planes: Vec<Plane> = if a.plane == "all" {
        Plane::ALL.to_vec()
    } else {
        vec![Plane::parse(&a.plane)
            .ok_or_else(|| format!("--plane {}: expected axial, sagittal, coronal or all", a.plane))?]
    };
    let arch =
        Arch::parse(&a.arch).ok_or_else(|| format!("--arch {}: expected resnet18, resnet34 or resnet50", a.arch))?;
    let dev = device(&a.device)?;
    let mut entries = read_manifest(&a.manifest)?;
    let sources = a.labels.load(&mut entries)?;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let split_path = a.out.join("split.json");
    let sp = match (&a.split, a.resume && split_path.exists()) {
        (Some(p), _) => Split::load(p)?,
        (None, true) => Split::load(&split_path)?,
        (None, false) => {
            let names: Vec<(String, Option<bool>)> = entries
                .iter()
                .map(|e| (e.name.clone(), e.scan_label.map(|l| l.any).or(e.mask.as_ref().map(|_| true))))
                .collect();
            split(&names, 0.7, a.seed)
        }
    };
    sp.save(&split_path)?;
    let pick = |set: &[String]| entries.iter().filter(|e| set.contains(&e.name)).cloned().collect::<Vec<_>>();
    let (tr, va) = (pick(&sp.train), pick(&sp.val));
    eprintln!(
        "{} scans: {} train, {} validation (split in {})",
        entries.len(),
        tr.len(),
        va.len(),
        split_path.display()
    );
    for plane in planes {
        let pcfg = PlaneConfig { size: a.size, ..PlaneConfig::default_for(plane) };
        let t = std::time::Instant::now();
        let train_data = build(&tr, plane, pcfg, a.min_area, &sources)?;
        let val_data = build(&va, plane, pcfg, a.min_area, &sources)?;
        eprintln!(
            "{}: {} train slices ({} positive), {} validation ({} positive), prepared in {:.1} s",
            plane.name(),
            train_data.samples.len(),
            train_data.positives(),
            val_data.samples.len(),
            val_data.positives(),
            t.elapsed().as_secs_f64()
        );
        let net = Config { arch, width: a.width, in_channels: 3, classes: 2, types: if a.types { 5 } else { 0 } };
        let base = TrainConfig::for_plane(plane, net);
        let cfg = TrainConfig {
            epochs: a.epochs.unwrap_or(base.epochs),
            batch: a.batch.unwrap_or(base.batch),
            lr: a.lr.unwrap_or(base.lr),
            l2: a.l2.unwrap_or(base.l2),
            seed: a.seed,
            augment: !a.no_augment,
            ..base
        };
        let run_dir = a.out.join(plane.name());
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} batches, {msg}").expect("template"));
        let opts = RunOptions { device: dev, resume: a.resume, weights: a.weights.clone() };
        let m = train(&run_dir, &cfg, &train_data, &val_data, &opts, |p| {
            match p {
            Progress::Epoch { epoch, epochs, batches } => {
                bar.set_length(batches as u64);
                bar.set_position(0);
                bar.set_prefix(format!("{} epoch {epoch}/{epochs}", plane.name()));
            }
            Progress::Batch { done, loss, images_per_s } => {
                bar.set_position(done as u64);
                bar.set_message(format!("loss {loss:.4}, {images_per_s:.1} images/s"));
            }
            Progress::Validated { epoch, metrics, train_loss } => say(&bar, format!(
                "{} epoch {epoch}: train loss {train_loss:.4}; validation accuracy {:.4}, sensitivity {:.4}, specificity {:.4}, AUC {:.4}",
                plane.name(),
                metrics.accuracy.value,
                metrics.sensitivity.value,
                metrics.specificity.value,
                metrics.auc
            )),
        }
        })?;
        bar.finish_and_clear();
        // The model package: weights and everything needed to use them correctly.
        let manifest = a.manifest.canonicalize().unwrap_or(a.manifest.clone());
        let training = json!({
            "manifest": manifest.display().to_string(),
            "split": split_path.canonicalize().unwrap_or(split_path.clone()).display().to_string(),
            "train_scans": tr.len(), "val_scans": va.len(),
            "train_slices": train_data.samples.len(), "train_positive": train_data.positives(),
            "recipe": { "batch": cfg.batch, "epochs": cfg.epochs, "lr": cfg.lr, "l2": cfg.l2, "seed": cfg.seed,
                        "augment": cfg.augment, "weights": a.weights.as_ref().map(|w| w.display().to_string()) },
            "ichscan": env!("CARGO_PKG_VERSION"),
        });
        // The decision threshold: Youden's J on the validation split (class weighting makes
        // 0.5 arbitrary), with the metrics there and at 0.5 recorded.
        let scores = {
            let mut vs = tch::nn::VarStore::new(dev);
            let net = ichscan_train::ResNet::new(&vs.root(), cfg.net);
            ichscan_train::load_safetensors(&mut vs, &ichscan_train::train::final_weights(&run_dir))
                .map_err(|e| e.to_string())?;
            ichscan_train::train::predict(&net, &val_data, &cfg, dev)
        };
        let labels: Vec<bool> = val_data.samples.iter().map(|s| s.label.any).collect();
        let threshold = youden_threshold(&scores, &labels);
        let at = metrics(&scores, &labels, threshold);
        eprintln!(
            "{}: threshold {threshold:.3} (Youden's J on validation): accuracy {:.4}, sensitivity {:.4}, specificity {:.4}",
            plane.name(),
            at.accuracy.value,
            at.sensitivity.value,
            at.specificity.value
        );
        let mut meta = ichscan_train::train::package_meta(&cfg, pcfg, training, json!(at));
        meta.threshold = threshold;
        meta.calibration = json!({
            "probability": "softmax of the logits, not calibrated",
            "threshold": "maximises Youden's J (sensitivity + specificity - 1) on the validation split",
            "validation_at_0.5": m,
        });
        let pkg = ichscan_train::train::write_package(&run_dir, &meta)?;
        eprintln!("{}: model package in {}", plane.name(), pkg.display());
    }
    Ok(crate::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn cuda_is_loaded_on_request_or_says_why() {
        match device("cuda") {
            // A GPU machine with the full torch wheel.
            Ok(d) => assert_eq!(d, tch::Device::Cuda(0)),
            Err(e) => {
                assert!(!e.contains('\n') && e.starts_with("--device cuda: "), "{e}");
                let no_lib = e.contains("libtorch_cuda.so") && e.contains("ICHSCAN_CUDA=1 scripts/setup-python");
                assert!(no_lib || e.contains("sees 0 GPU(s)"), "{e}");
            }
        }
        assert!(device("cuda:x").unwrap_err().contains("expected cpu, cuda or cuda:N"));
        assert_eq!(device("cpu").unwrap(), tch::Device::Cpu);
    }
}
