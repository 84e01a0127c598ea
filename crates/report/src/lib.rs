//! # ichscan-report
//!
//! The last step of the pipeline: what `ichscan detect` writes. [`Report`] is the
//! `report.json` document (schema in the README: verdict, probability, boxes in input
//! voxels and patient mm, per-plane curves, model identity, timings, and never a patient
//! identifier), and [`overview`] draws `overview.png`: per box, the three orthogonal
//! brain-window views through its centre with the box drawn, then the three planes'
//! probability curves with the threshold and the positive runs.

pub mod canvas;

use std::collections::BTreeMap;

use canvas::{Canvas, Rgb};
use ichscan_localise::Fusion;
use ichscan_slices::{Plane, Prepared, SliceStack, Window};
use serde::Serialize;

pub const NOTICE: &str = "Research software, not for clinical use: not a medical device, not validated on \
                          real labelled haemorrhages. Do not use for diagnosis or treatment decisions.";

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ichscan_version: String,
    pub notice: &'static str,
    pub input: InputSummary,
    /// The series read (DICOM), without patient identifiers; null for NIfTI.
    pub series: Option<serde_json::Value>,
    /// The head's bounding box (LPS mm; tissue above -300 HU, largest connected body), null
    /// when no head was found.
    pub head: Option<HeadBox>,
    /// "haemorrhage" or "none".
    pub verdict: &'static str,
    /// Scan probability (see ichscan-localise, rule 4); verdict = haemorrhage when >= threshold.
    pub probability: f64,
    pub threshold: f64,
    /// Several planes had several positive runs and the image evidence could not rule out
    /// every ghost combination: some boxes may not be haemorrhages.
    pub ambiguous: bool,
    /// Scan-level type probabilities (null without a type head).
    pub types: Option<BTreeMap<String, f64>>,
    pub boxes: Vec<BoxReport>,
    pub planes: BTreeMap<&'static str, PlaneReport>,
    pub model: serde_json::Value,
    pub timings_s: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// The path as given on the command line.
    pub path: String,
    pub format: &'static str,
    /// [columns, rows, slices] of the input's own voxel grid (sorted slices).
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub orientation: String,
    pub series_found: usize,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeadBox {
    pub patient_mm_min: [f64; 3],
    pub patient_mm_max: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct BoxReport {
    /// [i, j, k] inclusive, the input's own voxel grid: column, row, sorted slice index.
    pub voxel_min: [usize; 3],
    pub voxel_max: [usize; 3],
    /// [x, y, z], DICOM LPS mm.
    pub patient_mm_min: [f64; 3],
    pub patient_mm_max: [f64; 3],
    pub size_mm: [f64; 3],
    /// Volume of the box (not of the haemorrhage), mL.
    pub box_volume_ml: f64,
    /// The weakest of its three runs' peak probabilities, each mapped as the scan
    /// probability is (ichscan-localise rule 4): at least 0.5.
    pub probability: f64,
    /// Blood-density volume inside the box, mL (measured only when ghosts were possible).
    pub blood_evidence_ml: Option<f64>,
    /// Inclusive slice ranges of the runs that make it, per plane.
    pub slices: BTreeMap<&'static str, [usize; 2]>,
    pub types: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaneReport {
    pub threshold: f64,
    pub smoothing_sigma_slices: f64,
    pub step_mm: f64,
    pub slab_mm: f64,
    /// Slice centre along the plane's normal, LPS mm (x sagittal, y coronal, z axial).
    pub positions_mm: Vec<f64>,
    /// P(haemorrhage) per slice; null for slices without head (not scored).
    pub p: Vec<Option<f64>>,
    pub smoothed: Vec<f64>,
    /// Positive runs, inclusive slice ranges.
    pub runs: Vec<[usize; 2]>,
}

/// Names with probabilities, in the model's type order.
pub fn named(names: &[String], p: &[f64]) -> Option<BTreeMap<String, f64>> {
    (!p.is_empty() && names.len() == p.len()).then(|| names.iter().cloned().zip(p.iter().copied()).collect())
}

const BOX_COLOURS: [Rgb; 4] = [[255, 220, 0], [0, 230, 255], [255, 60, 255], [120, 255, 60]];
const PLANE_COLOURS: [Rgb; 3] = [[255, 90, 90], [90, 220, 90], [110, 150, 255]];
const SCALE: usize = 2;
const MARGIN: usize = 12;
const HEAD: usize = 28;

fn nearest(stack: &SliceStack, mm: f64) -> usize {
    (0..stack.len())
        .min_by(|&a, &b| (stack.positions_mm[a] - mm).abs().total_cmp(&(stack.positions_mm[b] - mm).abs()))
        .unwrap_or(0)
}

/// Pixel (column, row) of patient point `p` in `stack`'s images.
fn to_pixel(stack: &SliceStack, p: [f64; 3]) -> (f64, f64) {
    let g = &stack.image;
    let along = |step: [f64; 3]| {
        let d: f64 = (0..3).map(|a| (p[a] - g.origin[a]) * step[a]).sum();
        d / step.iter().map(|s| s * s).sum::<f64>()
    };
    (along(g.col_step), along(g.row_step))
}

/// One brain-window image of `stack` at `(x, y)` with each box's outline.
fn draw_view(cv: &mut Canvas, x: usize, y: usize, stack: &SliceStack, n: usize, boxes: &[([f64; 3], [f64; 3])]) {
    let img = stack.hu.index_axis(ndarray::Axis(0), n);
    let (h, w) = img.dim();
    for r in 0..h * SCALE {
        for c in 0..w * SCALE {
            let v = (Window::BRAIN.apply(img[[r / SCALE, c / SCALE]]) * 255.0).round() as u8;
            cv.set((x + c) as i64, (y + r) as i64, [v, v, v]);
        }
    }
    let a = stack.plane.normal_axis();
    for (b, (lo, hi)) in boxes.iter().enumerate() {
        // Only the boxes this slice's slab passes through.
        let (s0, s1) = stack.extent_mm(n);
        if s1 < lo[a] || s0 > hi[a] {
            continue;
        }
        let (c0, r0) = to_pixel(stack, *lo);
        let (c1, r1) = to_pixel(stack, *hi);
        let px = |v: f64| (v + 0.5) * SCALE as f64;
        let (xa, xb) = (px(c0.min(c1)) as i64, px(c0.max(c1)) as i64);
        let (ya, yb) = (px(r0.min(r1)) as i64, px(r0.max(r1)) as i64);
        cv.rect(x as i64 + xa, y as i64 + ya, x as i64 + xb, y as i64 + yb, 2, BOX_COLOURS[b % BOX_COLOURS.len()]);
    }
}

/// One plane's curve: raw P (thin, pale), smoothed P (bold), threshold (dashed), runs shaded.
/// `area` is (x, y, width, height) on the canvas.
fn draw_curve(
    cv: &mut Canvas,
    area: (usize, usize, usize, usize),
    plane: usize,
    p: &[Option<f64>],
    f: &Fusion,
    thr: f64,
) {
    let (x, y, w, h) = area;
    let n = p.len().max(1);
    let px = |i: f64| x as i64 + (i / (n.max(2) - 1) as f64 * (w - 1) as f64).round() as i64;
    let py = |v: f64| y as i64 + ((1.0 - v.clamp(0.0, 1.0)) * (h - 1) as f64).round() as i64;
    cv.fill(x as i64, y as i64, (x + w) as i64, (y + h) as i64, [24, 24, 28]);
    for r in &f.runs[plane] {
        cv.fill(px(r.first as f64), y as i64, px(r.last as f64) + 2, (y + h) as i64, [70, 55, 20]);
    }
    let ty = py(thr);
    for xx in (x..x + w).step_by(8) {
        cv.fill(xx as i64, ty, xx as i64 + 4, ty + 1, [200, 200, 200]);
    }
    let col = PLANE_COLOURS[plane];
    let pale = col.map(|c| c / 2 + 40);
    for i in 1..p.len() {
        if let (Some(a), Some(b)) = (p[i - 1], p[i]) {
            cv.line((px((i - 1) as f64), py(a)), (px(i as f64), py(b)), 1, pale);
        }
    }
    let s = &f.smoothed[plane];
    for i in 1..s.len() {
        cv.line((px((i - 1) as f64), py(s[i - 1])), (px(i as f64), py(s[i])), 2, col);
    }
    cv.rect(x as i64, y as i64, (x + w - 1) as i64, (y + h - 1) as i64, 1, [90, 90, 90]);
}

/// `overview.png`: a row of three views per box (at most 4; one row through the head
/// centre when there is none), then the three curves.
pub fn overview(prep: &Prepared, report: &Report, fusion: &Fusion) -> Canvas {
    let side = prep.stacks.first().map(|s| s.hu.dim().1).unwrap_or(224) * SCALE;
    let width = MARGIN + 3 * (side + MARGIN);
    let boxes: Vec<([f64; 3], [f64; 3])> = report.boxes.iter().map(|b| (b.patient_mm_min, b.patient_mm_max)).collect();
    let centre_of_head = prep.head.bbox_mm.map(|(lo, hi)| [0, 1, 2].map(|d| (lo[d] + hi[d]) / 2.0));
    let mut rows: Vec<(String, [f64; 3])> = boxes
        .iter()
        .enumerate()
        .take(4)
        .map(|(i, (lo, hi))| {
            let b = &report.boxes[i];
            (
                format!(
                    "BOX {}  P {:.2}  {:.0} X {:.0} X {:.0} MM  {:.1} ML",
                    i + 1,
                    b.probability,
                    b.size_mm[0],
                    b.size_mm[1],
                    b.size_mm[2],
                    b.box_volume_ml
                ),
                [0, 1, 2].map(|d| (lo[d] + hi[d]) / 2.0),
            )
        })
        .collect();
    if rows.is_empty() {
        rows.push(("NO HAEMORRHAGE FOUND: VIEWS THROUGH THE HEAD CENTRE".into(), centre_of_head.unwrap_or([0.0; 3])));
    }
    let curve_h = 150;
    let height = HEAD + rows.len() * (side + HEAD) + 3 * (curve_h + HEAD) + MARGIN;
    let mut cv = Canvas::new(width, height, [0, 0, 0]);
    let title = format!(
        "ICHSCAN  {}  P {:.2}  {} BOX(ES){}   NOT FOR CLINICAL USE",
        if report.verdict == "none" { "NO HAEMORRHAGE" } else { "HAEMORRHAGE" },
        report.probability,
        report.boxes.len(),
        if report.ambiguous { "  AMBIGUOUS" } else { "" }
    );
    cv.text(MARGIN as i64, 8, &title, 2, [255, 255, 255]);
    let order = [Plane::Axial, Plane::Coronal, Plane::Sagittal];
    let mut y = HEAD;
    for (label, centre) in &rows {
        cv.text(MARGIN as i64, y as i64 + 8, label, 2, [255, 220, 120]);
        y += HEAD;
        for (col, plane) in order.iter().enumerate() {
            let x = MARGIN + col * (side + MARGIN);
            if let Some(st) = prep.stack(*plane) {
                let n = nearest(st, centre[plane.normal_axis()]);
                draw_view(&mut cv, x, y, st, n, &boxes);
                cv.text(
                    x as i64 + 4,
                    y as i64 + 4,
                    &format!("{} {}", plane.name(), n),
                    2,
                    PLANE_COLOURS[plane_index(*plane)],
                );
            }
        }
        y += side;
    }
    for (k, plane) in Plane::ALL.iter().enumerate() {
        let pr = &report.planes[plane.name()];
        cv.text(
            MARGIN as i64,
            y as i64 + 8,
            &format!("{} P PER SLICE (THRESHOLD {:.2}, {} RUN(S))", plane.name(), pr.threshold, pr.runs.len()),
            2,
            PLANE_COLOURS[k],
        );
        y += HEAD;
        draw_curve(&mut cv, (MARGIN, y, width - 2 * MARGIN, curve_h), k, &pr.p, fusion, pr.threshold);
        y += curve_h;
    }
    cv
}

fn plane_index(p: Plane) -> usize {
    Plane::ALL.iter().position(|q| *q == p).unwrap_or(0)
}
