//! `ichscan demo`: a simulated head CT with a haemorrhage (fixed seed), detected with the
//! built-in (or given) model, the found box printed beside the true one.

use std::path::PathBuf;

use ichscan_geometry::box_iou;
use ichscan_synth::{phantom_case, CaseSpec};

use crate::detect::{detect, summary, write_outputs, ModelSet, ModelSource};

/// The demo case's seed: fixed so every machine shows the same case.
pub const DEMO_SEED: u64 = 20261204;

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the simulated scan (case/ct, DICOM; case/case.json, truth) and the
    /// detection (report.json, overview.png).
    #[arg(long, default_value = "ichscan-demo")]
    pub out: PathBuf,
    #[arg(long, default_value_t = DEMO_SEED)]
    pub seed: u64,
    /// Model folder (default: the built-in model).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// The true box of a case: the union of its lesions' voxel boxes, out to the voxel
/// edges (synth grids are axis-aligned, so the half-voxel margin is per patient axis).
pub fn true_box(case: &ichscan_synth::Case) -> Option<([f64; 3], [f64; 3])> {
    let half = case.volume.spacing().map(|s| s / 2.0);
    let mut it = case.lesions.iter();
    let first = it.next()?;
    let (mut lo, mut hi) = (first.patient_mm_min, first.patient_mm_max);
    for l in it {
        for d in 0..3 {
            lo[d] = lo[d].min(l.patient_mm_min[d]);
            hi[d] = hi[d].max(l.patient_mm_max[d]);
        }
    }
    // patient_mm_min/max are voxel centres; the spacing is along i, j, k = L, P, S here.
    let dirs = case.volume.affine.directions();
    let mut pad = [0.0; 3];
    for (axis, dir) in dirs.iter().enumerate() {
        for d in 0..3 {
            pad[d] += (dir[d] * half[axis]).abs();
        }
    }
    Some(([0, 1, 2].map(|d| lo[d] - pad[d]), [0, 1, 2].map(|d| hi[d] + pad[d])))
}

pub fn run(a: Args) -> Result<u8, String> {
    let mut spec = CaseSpec::new(a.seed);
    spec.p_none = 0.0;
    spec.max_lesions = 1;
    eprintln!("simulating a head CT with a haemorrhage (seed {}) ...", a.seed);
    let case = phantom_case(&spec, true);
    let case_dir = a.out.join("case");
    std::fs::create_dir_all(&case_dir).map_err(|e| format!("{}: {e}", case_dir.display()))?;
    crate::synth::write_case(&case, &case_dir, "case", true, false)?;
    let ct = case_dir.join("ct");
    let set = ModelSet::resolve(a.model.as_deref(), None, ichscan_classify::Engine::Auto)?;
    let mut d =
        detect(&ct, None, ModelSource::Plan(set), true, &|m: &str| eprintln!("{m} ...")).map_err(|f| f.message)?;
    write_outputs(&mut d, &a.out)?;
    print!("{}", summary(&d.report));
    let kinds: Vec<&str> = case.lesions.iter().map(|l| l.kind.name()).collect();
    let (tlo, thi) = true_box(&case).ok_or("the demo case has no lesion")?;
    println!(
        "true {} ({:.1} mL): LPS mm ({:.1}, {:.1}, {:.1})..({:.1}, {:.1}, {:.1})",
        kinds.join(", "),
        case.lesions.iter().map(|l| l.volume_ml).sum::<f64>(),
        tlo[0],
        tlo[1],
        tlo[2],
        thi[0],
        thi[1],
        thi[2]
    );
    match d.report.boxes.iter().map(|b| box_iou(b.patient_mm_min, b.patient_mm_max, tlo, thi)).reduce(f64::max) {
        Some(iou) => println!("best box IoU with the true box: {iou:.2}"),
        None => println!("no box found: the true box was missed"),
    }
    println!(
        "wrote {}, {} and {}",
        ct.display(),
        a.out.join("report.json").display(),
        a.out.join("overview.png").display()
    );
    Ok(crate::EXIT_OK)
}
