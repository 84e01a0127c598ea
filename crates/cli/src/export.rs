//! `ichscan export`: a trained run or package -> deployable packages (ONNX f32, optional int8).

use std::path::{Path, PathBuf};

use ichscan_classify::export::{export, Int8Data};
use ichscan_dataset::manifest::{read_manifest, ScanEntry};
use ichscan_dataset::split::Split;
use ichscan_model::{find_packages, Package};
use ndarray::Array3;

#[derive(clap::Args)]
pub struct Args {
    /// A training run folder (its PLANE/model packages) or a package folder.
    pub input: PathBuf,
    /// Output folder: one package per plane in OUT/<plane>.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a static int8 graph, calibrated on the model's training scans.
    #[arg(long)]
    pub int8: bool,
    /// Scan list to calibrate on instead of the training manifest (scans alternate between
    /// calibration and the held-out agreement check).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Calibration slices (spread evenly over the calibration scans).
    #[arg(long, default_value_t = 128)]
    pub calibration_slices: usize,
    /// Most scans read for calibration and for the agreement check, each.
    #[arg(long, default_value_t = 16)]
    pub max_scans: usize,
}

/// Head slices of `plane` from `scans`, as HU images at the package's input size.
fn slices(pkg: &Package, scans: &[ScanEntry], max: usize) -> Result<Array3<f32>, String> {
    let opts = ichscan_load::LoadOptions { allow_single_slice: true, ..Default::default() };
    let cfg = pkg.meta.input.plane_config();
    let mut imgs = Vec::new();
    for e in scans.iter().take(max) {
        let scan = ichscan_load::load(&e.ct, &opts).map_err(|err| format!("{}: {err}", e.name))?;
        let prep = ichscan_slices::prepare(&scan.volume, &[(pkg.meta.plane, cfg)]);
        let st = &prep.stacks[0];
        for n in (0..st.len()).filter(|&n| st.has_head[n]) {
            imgs.push(st.hu.index_axis(ndarray::Axis(0), n).to_owned());
        }
    }
    let views: Vec<_> = imgs.iter().map(|a| a.view()).collect();
    if views.is_empty() {
        return Ok(Array3::zeros((0, cfg.size, cfg.size)));
    }
    ndarray::stack(ndarray::Axis(0), &views).map_err(|e| e.to_string())
}

fn every(a: &Array3<f32>, n: usize) -> Array3<f32> {
    let m = a.dim().0;
    if m <= n {
        return a.clone();
    }
    let idx: Vec<usize> = (0..n).map(|k| k * m / n).collect();
    a.select(ndarray::Axis(0), &idx)
}

/// Calibration and held-out scans: the run's train / validation split, or `data` halved.
fn scan_sets(pkg: &Package, data: Option<&Path>) -> Result<(Vec<ScanEntry>, Vec<ScanEntry>), String> {
    if let Some(d) = data {
        let all = read_manifest(d)?;
        let (a, b): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        return Ok((a.into_iter().map(|x| x.1).collect(), b.into_iter().map(|x| x.1).collect()));
    }
    let t = &pkg.meta.training;
    let (Some(m), Some(s)) = (t["manifest"].as_str(), t["split"].as_str()) else {
        return Err(format!(
            "{}: model.json names no training manifest and split; give calibration scans with --data",
            pkg.dir.display()
        ));
    };
    let entries = read_manifest(Path::new(m))?;
    let split = Split::load(Path::new(s))?;
    let pick = |set: &[String]| entries.iter().filter(|e| set.contains(&e.name)).cloned().collect::<Vec<_>>();
    Ok((pick(&split.train), pick(&split.val)))
}

pub fn run(a: Args) -> Result<u8, String> {
    let pkgs = find_packages(&a.input).map_err(|e| e.to_string())?;
    for pkg in pkgs {
        let plane = pkg.meta.plane;
        let out = a.out.join(plane.name());
        let t = std::time::Instant::now();
        let done = if a.int8 {
            let (cal_scans, held_scans) = scan_sets(&pkg, a.data.as_deref())?;
            let cal = every(&slices(&pkg, &cal_scans, a.max_scans)?, a.calibration_slices);
            let held = slices(&pkg, &held_scans, a.max_scans)?;
            export(&pkg, &out, Some(Int8Data { calibration: cal.view(), held_out: held.view() }))?
        } else {
            export(&pkg, &out, None)?
        };
        let agree = done
            .meta
            .onnx
            .as_ref()
            .and_then(|o| o.int8_agreement.as_ref())
            .map(|v| {
                format!(
                    "; int8 agrees with f32 on {:.2}% of {} held-out slices",
                    100.0 * v["decision_agreement"].as_f64().unwrap_or(f64::NAN),
                    v["held_out_slices"]
                )
            })
            .unwrap_or_default();
        eprintln!("{}: package in {} ({:.1} s){agree}", plane.name(), out.display(), t.elapsed().as_secs_f64());
    }
    Ok(crate::EXIT_OK)
}
