//! `ichscan eval`: the trained plane models on a scan list — per-plane slice metrics (the
//! method's accuracy, plus sensitivity, specificity, F1, AUC, with 95% intervals), scan-level
//! metrics, ROC curves as PNG, `eval.json` and a table.

use std::path::{Path, PathBuf};

use ichscan_dataset::metrics::{metrics, roc, Metrics};
use ichscan_dataset::split::Split;
use ichscan_slices::{Plane, PlaneConfig, Window};
use ichscan_train::data::{build, read_manifest, PlaneData};
use ichscan_train::train::{predict, TrainConfig};
use ichscan_train::{Config, ResNet};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Scan list with labels (as for `train`).
    #[arg(long)]
    pub manifest: PathBuf,
    #[command(flatten)]
    pub labels: crate::train::LabelArgs,
    /// The run folder `train` wrote (models in RUN/<plane>/model).
    #[arg(long)]
    pub run: PathBuf,
    /// Which scans: the run's validation split (default), or all scans of the manifest.
    #[arg(long)]
    pub all: bool,
    /// Output folder for eval.json and the ROC PNGs (default RUN/eval).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

struct PlaneResult {
    plane: Plane,
    metrics: Metrics,
    roc: Vec<(f64, f64)>,
    /// Highest slice probability per scan index.
    scan_max: Vec<Option<f64>>,
}

fn load_model(dir: &Path, dev: tch::Device) -> Result<(ResNet, tch::nn::VarStore, TrainConfig, PlaneConfig), String> {
    let meta_path = dir.join("model.json");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&meta_path).map_err(|e| format!("{}: {e}", meta_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", meta_path.display()))?;
    let bad = |what: &str| format!("{}: missing or bad {what}", meta_path.display());
    let net: Config = serde_json::from_value(meta["architecture"].clone()).map_err(|_| bad("architecture"))?;
    let plane: Plane = serde_json::from_value(meta["plane"].clone()).map_err(|_| bad("plane"))?;
    let input = &meta["input"];
    let windows: Vec<Window> = serde_json::from_value(input["channels"].clone()).map_err(|_| bad("input.channels"))?;
    let num = |k: &str| input[k].as_f64().ok_or_else(|| bad(&format!("input.{k}")));
    let pcfg = PlaneConfig {
        size: num("size")? as usize,
        step_mm: num("step_mm")?,
        slab_mm: num("slab_mm")?,
        fov_mm: num("fov_mm")?,
    };
    let arr = |k: &str| -> Result<[f32; 3], String> {
        let v: Vec<f32> = serde_json::from_value(input[k].clone()).map_err(|_| bad(&format!("input.{k}")))?;
        v.try_into().map_err(|_| bad(&format!("input.{k}")))
    };
    let cfg = TrainConfig { windows, mean: arr("mean")?, std: arr("std")?, ..TrainConfig::for_plane(plane, net) };
    let mut vs = tch::nn::VarStore::new(dev);
    let model = ResNet::new(&vs.root(), net);
    ichscan_train::load_safetensors(&mut vs, &dir.join("weights.safetensors")).map_err(|e| e.to_string())?;
    Ok((model, vs, cfg, pcfg))
}

pub fn run(a: Args) -> Result<u8, String> {
    let dev = crate::train::device(&a.device)?;
    let mut entries = read_manifest(&a.manifest)?;
    let sources = a.labels.load(&mut entries)?;
    let chosen: Vec<_> = if a.all {
        entries
    } else {
        let sp = Split::load(&a.run.join("split.json"))?;
        entries.into_iter().filter(|e| sp.val.contains(&e.name)).collect()
    };
    if chosen.is_empty() {
        return Err(format!("{}: no scans to evaluate", a.manifest.display()));
    }
    let out = a.out.clone().unwrap_or_else(|| a.run.join("eval"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut results = Vec::new();
    let mut scan_truth: Vec<Option<bool>> = vec![None; chosen.len()];
    for plane in Plane::ALL {
        let dir = a.run.join(plane.name()).join("model");
        if !dir.join("model.json").exists() {
            continue;
        }
        let (model, _vs, cfg, pcfg) = load_model(&dir, dev)?;
        let data: PlaneData = build(&chosen, plane, pcfg, None, &sources)?;
        let scores = predict(&model, &data, &cfg, dev);
        let labels: Vec<bool> = data.samples.iter().map(|s| s.label.any).collect();
        let mut scan_max = vec![None; chosen.len()];
        for (s, p) in data.samples.iter().zip(&scores) {
            let m: &mut Option<f64> = &mut scan_max[s.scan];
            *m = Some(m.map_or(*p, |x: f64| x.max(*p)));
            let t = &mut scan_truth[s.scan];
            *t = Some(t.unwrap_or(false) || s.label.any);
        }
        results.push(PlaneResult {
            plane,
            metrics: metrics(&scores, &labels, 0.5),
            roc: roc(&scores, &labels),
            scan_max,
        });
    }
    if results.is_empty() {
        return Err(format!("{}: no model packages (RUN/<plane>/model/model.json)", a.run.display()));
    }
    // Scan level: the scan's probability is the mean over planes of each plane's highest
    // slice probability; the truth is whether any labelled slice is positive.
    let mut s_scores = Vec::new();
    let mut s_labels = Vec::new();
    for (i, truth) in scan_truth.iter().enumerate() {
        let ps: Vec<f64> = results.iter().filter_map(|r| r.scan_max[i]).collect();
        if let (Some(t), false) = (truth, ps.is_empty()) {
            s_scores.push(ps.iter().sum::<f64>() / ps.len() as f64);
            s_labels.push(*t);
        }
    }
    let scan = metrics(&s_scores, &s_labels, 0.5);
    println!(
        "{:<10} {:>6} {:>5} {:>22} {:>22} {:>22} {:>6} {:>20}",
        "plane", "slices", "pos", "accuracy", "sensitivity", "specificity", "F1", "AUC"
    );
    let ci = |p: &ichscan_dataset::metrics::Proportion| format!("{:.3} ({:.3}-{:.3})", p.value, p.lo, p.hi);
    let row = |name: &str, m: &Metrics| {
        println!(
            "{:<10} {:>6} {:>5} {:>22} {:>22} {:>22} {:>6.3} {:>20}",
            name,
            m.n,
            m.positives,
            ci(&m.accuracy),
            ci(&m.sensitivity),
            ci(&m.specificity),
            m.f1,
            format!("{:.3} ({:.3}-{:.3})", m.auc, m.auc_lo, m.auc_hi)
        )
    };
    for r in &results {
        row(r.plane.name(), &r.metrics);
        plot_roc(&out.join(format!("roc_{}.png", r.plane.name())), &r.roc)?;
    }
    row("scan", &scan);
    plot_roc(&out.join("roc_scan.png"), &roc(&s_scores, &s_labels))?;
    let doc = json!({
        "scans": chosen.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        "planes": results.iter().map(|r| json!({ "plane": r.plane, "metrics": r.metrics, "roc": r.roc })).collect::<Vec<_>>(),
        "scan_level": { "rule": "mean over planes of the highest slice probability", "metrics": scan },
    });
    let p = out.join("eval.json");
    std::fs::write(&p, serde_json::to_string_pretty(&doc).expect("json"))
        .map_err(|e| format!("{}: {e}", p.display()))?;
    eprintln!("wrote {} and ROC curves to {}", p.display(), out.display());
    Ok(crate::EXIT_OK)
}

/// A 256 x 256 ROC plot: grey diagonal, black curve, white background.
fn plot_roc(path: &Path, pts: &[(f64, f64)]) -> Result<(), String> {
    let n = 256usize;
    let mut img = vec![255u8; n * n];
    let mut put = |x: f64, y: f64, v: u8| {
        let (px, py) = ((x * (n - 1) as f64).round() as usize, ((1.0 - y) * (n - 1) as f64).round() as usize);
        if px < n && py < n {
            img[py * n + px] = v;
        }
    };
    for i in 0..n {
        let t = i as f64 / (n - 1) as f64;
        put(t, t, 170);
    }
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let steps = (((x1 - x0).abs().max((y1 - y0).abs())) * n as f64).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            put(x0 + t * (x1 - x0), y0 + t * (y1 - y0), 0);
        }
    }
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), n as u32, n as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().and_then(|mut w| w.write_image_data(&img)).map_err(|e| format!("{}: {e}", path.display()))
}
