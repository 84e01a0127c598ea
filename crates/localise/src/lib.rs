//! # ichscan-localise
//!
//! The fifth step of the pipeline: the three planes' slice probabilities fused into a
//! scan-level verdict, a scan probability and 3D boxes. The rules are arithmetic on curves
//! — no model — so each is tested on constructed curves; the one image measure they may
//! use, blood-density volume in a box, is [`evidence`].
//!
//! The rules (the README's "How detections are fused" states them for users):
//!
//! 1. **Curves.** Per plane, P(haemorrhage) of every head slice along the plane's normal;
//!    slices without head count as 0. Optionally smoothed with a Gaussian of `sigma` slices
//!    (default 1 slice for sagittal and coronal, whose 1.5 mm slices make a real lesion
//!    span several neighbours while a one-slice spike is noise; none for the 5 mm axial
//!    slices, where a small bleed may fill a single slice).
//! 2. **Runs.** Maximal ranges of consecutive slices whose smoothed P is at least the
//!    plane's threshold.
//! 3. **Boxes (the method's rule).** A box spans one run of each plane: the sagittal run
//!    gives its x range, the coronal run y, the axial run z. Every plane must have a run:
//!    evidence in one or two planes only is not a box. With several runs in a plane, each
//!    combination of runs is a candidate box. When only one plane has several runs the
//!    candidates are unambiguous (lesions side by side along that axis). When two or three
//!    planes have several runs, some combinations are "ghosts" (a box at x of lesion A and
//!    z of lesion B): slice labels cannot tell them apart, so the caller may pass an image
//!    evidence measure (ichscan's: the volume of blood-density voxels in the box) and
//!    candidates with less than `min_evidence` are dropped — never all of them: the best
//!    supported is kept, and the result is flagged `ambiguous`.
//! 4. **Verdict and probability.** The scan probability is the lowest over the three
//!    planes of the plane's highest smoothed slice probability — the strength of the
//!    weakest plane's best evidence — each first mapped piecewise linearly so that the
//!    plane's threshold becomes 0.5 ([`to_half`]; the identity when thresholds are 0.5).
//!    So "haemorrhage" (scan probability at least [`SCAN_THRESHOLD`] = 0.5) holds exactly
//!    when every plane has a run, that is when there is a box.

use ichscan_slices::Plane;
use serde::Serialize;

/// One plane's slice probabilities, in slice order along the normal.
#[derive(Debug, Clone)]
pub struct Curve {
    pub plane: Plane,
    /// P(haemorrhage) per slice; `None` for slices with no head (not scored).
    pub p: Vec<Option<f64>>,
    /// Type probabilities per slice (empty inner vectors without a type head).
    pub types: Vec<Vec<f64>>,
}

/// Fusion settings for one plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlaneRule {
    /// Decision threshold on the smoothed probability (the model package's threshold).
    pub threshold: f64,
    /// Gaussian smoothing along the slices, standard deviation in slices (0 = none).
    pub sigma: f64,
}

impl PlaneRule {
    /// The defaults for `plane` with the model's `threshold` (see the crate docs).
    pub fn default_for(plane: Plane, threshold: f64) -> Self {
        let sigma = match plane {
            Plane::Axial => 0.0,
            Plane::Sagittal | Plane::Coronal => 1.0,
        };
        PlaneRule { threshold, sigma }
    }
}

/// Inclusive range of positive slices in one plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Run {
    pub first: usize,
    pub last: usize,
    /// Highest smoothed probability in the run.
    pub peak: f64,
}

/// A 3D box as one run per plane.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub axial: Run,
    pub sagittal: Run,
    pub coronal: Run,
    /// The weakest of the three runs' peaks.
    pub probability: f64,
    /// The caller's image evidence for this box (None when none was measured).
    pub evidence: Option<f64>,
    /// Per type: mean over the planes of the highest type probability in the run.
    pub types: Vec<f64>,
}

impl Candidate {
    pub fn run(&self, plane: Plane) -> Run {
        match plane {
            Plane::Axial => self.axial,
            Plane::Sagittal => self.sagittal,
            Plane::Coronal => self.coronal,
        }
    }
}

/// The fused result of one scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fusion {
    /// Smoothed curves, per plane in [`Plane::ALL`] order (head-free slices 0).
    pub smoothed: Vec<Vec<f64>>,
    /// Runs per plane, in [`Plane::ALL`] order.
    pub runs: Vec<Vec<Run>>,
    pub boxes: Vec<Candidate>,
    /// The scan probability (rule 4).
    pub probability: f64,
    pub haemorrhage: bool,
    /// Several planes had several runs and the image evidence could not rule out every
    /// ghost combination.
    pub ambiguous: bool,
    /// Scan-level type probabilities: per type, the highest over the boxes (empty when
    /// the model has no type head or there is no box).
    pub types: Vec<f64>,
}

/// Gaussian smoothing with `sigma` slices; the curve is extended by its end values.
pub fn smooth(p: &[f64], sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 || p.len() < 2 {
        return p.to_vec();
    }
    let r = (3.0 * sigma).ceil() as isize;
    let w: Vec<f64> = (-r..=r).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = w.iter().sum();
    let n = p.len() as isize;
    (0..n)
        .map(|i| (-r..=r).zip(&w).map(|(d, wd)| wd * p[(i + d).clamp(0, n - 1) as usize]).sum::<f64>() / total)
        .collect()
}

/// Maximal runs of `p >= threshold`.
pub fn runs(p: &[f64], threshold: f64) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut open: Option<Run> = None;
    for (i, &v) in p.iter().enumerate() {
        if v >= threshold {
            let r = open.get_or_insert(Run { first: i, last: i, peak: v });
            r.last = i;
            r.peak = r.peak.max(v);
        } else if let Some(r) = open.take() {
            out.push(r);
        }
    }
    out.extend(open);
    out
}

/// Maps `p` piecewise linearly so that 0 -> 0, `threshold` -> 0.5 and 1 -> 1.
pub fn to_half(p: f64, threshold: f64) -> f64 {
    let t = threshold.clamp(1e-9, 1.0 - 1e-9);
    if p < t {
        0.5 * p / t
    } else {
        0.5 + 0.5 * (p - t) / (1.0 - t)
    }
}

/// The scan threshold on [`Fusion::probability`].
pub const SCAN_THRESHOLD: f64 = 0.5;

/// Fuses the three planes' curves (`curves` and `rules` in any plane order, one each).
/// `evidence` measures a candidate box from the image (higher = more blood-like); it is
/// called only when two or more planes have several runs (possible ghosts, rule 3).
pub fn fuse(
    curves: &[Curve],
    rules: &[(Plane, PlaneRule)],
    min_evidence: f64,
    evidence: Option<&dyn Fn(&Candidate) -> f64>,
) -> Result<Fusion, String> {
    let mut smoothed = Vec::new();
    let mut all_runs = Vec::new();
    let mut plane_best = Vec::new();
    let mut typed = Vec::new();
    let mut thresholds = Vec::new();
    for plane in Plane::ALL {
        let c = curves.iter().find(|c| c.plane == plane).ok_or(format!("no {} curve", plane.name()))?;
        let rule = rules.iter().find(|r| r.0 == plane).map(|r| r.1).ok_or(format!("no {} rule", plane.name()))?;
        thresholds.push(rule.threshold);
        let raw: Vec<f64> = c.p.iter().map(|v| v.unwrap_or(0.0)).collect();
        let s = smooth(&raw, rule.sigma);
        // Head-free slices cannot be positive even where smoothing spreads into them.
        let masked: Vec<f64> = s.iter().zip(&c.p).map(|(v, p)| if p.is_some() { *v } else { 0.0 }).collect();
        all_runs.push(runs(&masked, rule.threshold));
        plane_best.push(to_half(masked.iter().cloned().fold(0.0, f64::max), rule.threshold));
        smoothed.push(masked);
        typed.push(c);
    }
    // Rule 4, each plane's best first mapped so that its threshold lands on 0.5: planes
    // with different thresholds then compare fairly and the scan threshold is 0.5.
    let probability = plane_best.iter().cloned().fold(f64::INFINITY, f64::min);
    let [ax, sa, co] = [&all_runs[0], &all_runs[1], &all_runs[2]];
    let mut boxes = Vec::new();
    for a in ax {
        for s in sa {
            for c in co {
                // On the scan probability's scale (rule 4), so a box is never below 0.5.
                let probability = to_half(a.peak, thresholds[0])
                    .min(to_half(s.peak, thresholds[1]))
                    .min(to_half(c.peak, thresholds[2]));
                let n_types = typed.iter().map(|c| c.types.iter().map(Vec::len).max().unwrap_or(0)).max().unwrap_or(0);
                let types = (0..n_types)
                    .map(|t| {
                        let per_plane = |curve: &Curve, r: &Run| {
                            (r.first..=r.last).filter_map(|i| curve.types.get(i)?.get(t).copied()).fold(0.0, f64::max)
                        };
                        (per_plane(typed[0], a) + per_plane(typed[1], s) + per_plane(typed[2], c)) / 3.0
                    })
                    .collect();
                boxes.push(Candidate { axial: *a, sagittal: *s, coronal: *c, probability, evidence: None, types });
            }
        }
    }
    // Ghosts exist only when two or more planes have several runs (rule 3); with one
    // multi-run plane every candidate is a lesion of its own and none is dropped.
    let multi = all_runs.iter().filter(|r| r.len() > 1).count();
    let mut ambiguous = false;
    if multi >= 2 {
        ambiguous = true;
        if let Some(ev) = evidence {
            for b in boxes.iter_mut() {
                b.evidence = Some(ev(b));
            }
            let best = boxes.iter().map(|b| b.evidence.unwrap_or(0.0)).fold(f64::NEG_INFINITY, f64::max);
            let before = boxes.len();
            boxes.retain(|b| b.evidence.unwrap_or(0.0) >= min_evidence || b.evidence == Some(best));
            // Still ambiguous when the evidence ruled nothing out (some survivors are likely
            // ghosts) or when the one kept had too little evidence itself.
            let weak = boxes.iter().any(|b| b.evidence.unwrap_or(0.0) < min_evidence);
            ambiguous = boxes.len() == before || weak;
        }
    }
    let haemorrhage = !boxes.is_empty();
    let n_types = boxes.iter().map(|b| b.types.len()).max().unwrap_or(0);
    let types = (0..n_types).map(|t| boxes.iter().map(|b| b.types[t]).fold(0.0, f64::max)).collect();
    Ok(Fusion { smoothed, runs: all_runs, boxes, probability, haemorrhage, ambiguous, types })
}

pub mod evidence;
