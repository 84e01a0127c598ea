//! Slice data sets for one plane: every head slice with a known label, from a list of
//! scans, prepared in parallel (one scan per task, both cores busy) and kept as 16-bit HU
//! images; windows, augmentation and normalisation happen per batch.

use ichscan_dataset::labels::Label;
use ichscan_dataset::planes::{from_mask, DEFAULT_MIN_AREA_MM2};
use ichscan_slices::{Plane, PlaneConfig, Window};
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

pub use ichscan_dataset::manifest::{read_manifest, ScanEntry};

/// A labelled slice.
#[derive(Debug, Clone)]
pub struct Sample {
    /// HU, `size x size`, rounded to whole HU.
    pub hu: Vec<i16>,
    pub label: Label,
    /// Index of the scan in the entry list, and of the slice in its plane.
    pub scan: usize,
    pub slice: usize,
}

/// All labelled head slices of one plane.
#[derive(Debug, Clone)]
pub struct PlaneData {
    pub plane: Plane,
    pub config: PlaneConfig,
    pub samples: Vec<Sample>,
}

impl PlaneData {
    pub fn positives(&self) -> usize {
        self.samples.iter().filter(|s| s.label.any).count()
    }

    /// HU images `[n, row, col]` of the samples `idx`.
    pub fn hu(&self, idx: &[usize]) -> ndarray::Array3<f32> {
        let size = self.config.size;
        let mut a = ndarray::Array3::zeros((idx.len(), size, size));
        for (mut img, &i) in a.outer_iter_mut().zip(idx) {
            img.iter_mut().zip(&self.samples[i].hu).for_each(|(o, v)| *o = *v as f32);
        }
        a
    }

    /// Up to `n` sample indices spread evenly over the set (stable: no randomness).
    pub fn spread(&self, n: usize) -> Vec<usize> {
        let m = self.samples.len();
        if m <= n {
            return (0..m).collect();
        }
        (0..n).map(|k| k * m / n).collect()
    }

    /// Windowed channels `[B, C, H, W]` in [0, 1] for the samples `idx`.
    pub fn batch(&self, idx: &[usize], windows: &[Window], device: Device) -> (Tensor, Tensor, Tensor) {
        let size = self.config.size;
        let mut x = vec![0f32; idx.len() * windows.len() * size * size];
        let mut y = Vec::with_capacity(idx.len());
        let mut types = Vec::with_capacity(idx.len() * 5);
        for (b, &i) in idx.iter().enumerate() {
            let s = &self.samples[i];
            for (c, w) in windows.iter().enumerate() {
                let off = (b * windows.len() + c) * size * size;
                for (o, v) in x[off..off + size * size].iter_mut().zip(&s.hu) {
                    *o = w.apply(*v as f32);
                }
            }
            // Class 0 = haemorrhage, 1 = healthy.
            y.push(if s.label.any { 0i64 } else { 1 });
            types.extend(s.label.types.iter().map(|t| *t as i32 as f32));
        }
        let x = Tensor::from_slice(&x).view([idx.len() as i64, windows.len() as i64, size as i64, size as i64]);
        (
            x.to_device(device),
            Tensor::from_slice(&y).to_device(device),
            Tensor::from_slice(&types).view([-1, 5]).to_device(device),
        )
    }
}

/// Label files beside the scan list (see `ichscan_dataset::labels`).
#[derive(Debug, Clone, Default)]
pub struct LabelSources {
    /// BHX boxes (any scans; matched by SOPInstanceUID).
    pub bhx: Vec<ichscan_dataset::labels::BhxBox>,
    /// RSNA slice labels by SOPInstanceUID (axial).
    pub rsna: std::collections::HashMap<String, Label>,
    /// Explicit per-plane slice labels (by scan name).
    pub slices: Vec<ichscan_dataset::labels::SliceRow>,
}

/// Each slice's label, or `None` where nothing says. In order: a mask (mean haemorrhage
/// cross-section over the slab >= `min_area`) or BHX boxes of this scan (their 3D regions;
/// slices outside them negative), else RSNA slice labels (axial); then a negative scan
/// label makes the rest negative; explicit slice rows override all.
fn slice_labels(
    e: &ScanEntry,
    scan: &ichscan_load::Scan,
    stack: &ichscan_slices::SliceStack,
    min_area: f64,
    sources: &LabelSources,
) -> Result<Vec<Option<Label>>, String> {
    use ichscan_dataset::planes::{axial_from_source_slices, bhx_regions, from_regions};
    let n = stack.len();
    let mut labels: Vec<Option<Label>> = vec![None; n];
    if let Some(m) = &e.mask {
        let mask = ichscan_load::load(m, &Default::default()).map_err(|err| format!("{}: {err}", e.name))?;
        labels = from_mask(stack, &mask.volume, min_area).into_iter().map(Some).collect();
    } else if let Some(src) = &scan.source_slices {
        let regions = bhx_regions(src, &sources.bhx);
        if !regions.is_empty() {
            labels = from_regions(stack, &regions).into_iter().map(Some).collect();
        } else if stack.plane == Plane::Axial && !sources.rsna.is_empty() {
            labels = axial_from_source_slices(stack, src, &sources.rsna);
        }
    }
    if let Some(l) = e.scan_label.filter(|l| !l.any) {
        for x in labels.iter_mut().filter(|x| x.is_none()) {
            *x = Some(l);
        }
    }
    for row in sources.slices.iter().filter(|r| r.scan == e.name && r.plane == stack.plane) {
        let idx = match row.at {
            ichscan_dataset::labels::SliceRef::Index(i) => (i < n).then_some(i),
            ichscan_dataset::labels::SliceRef::PositionMm(p) => (0..n)
                .min_by(|&a, &b| (stack.positions_mm[a] - p).abs().total_cmp(&(stack.positions_mm[b] - p).abs()))
                .filter(|&i| (stack.positions_mm[i] - p).abs() <= stack.config.step_mm / 2.0),
        };
        let i = idx.ok_or_else(|| {
            format!("{}: slice label at {:?} matches no {} slice", e.name, row.at, stack.plane.name())
        })?;
        labels[i] = Some(row.label);
    }
    Ok(labels)
}

/// Labels of a single-slice scan: its BHX boxes (positive, with their types) or its RSNA
/// label, by SOPInstanceUID; else negative when the scan label is.
fn single_slice_labels(
    e: &ScanEntry,
    scan: &ichscan_load::Scan,
    n: usize,
    sources: &LabelSources,
) -> Vec<Option<Label>> {
    let sop = scan.source_slices.as_ref().and_then(|s| s.sop_uids.first());
    let mut label = None;
    if let Some(sop) = sop {
        for b in sources.bhx.iter().filter(|b| &b.sop_uid == sop) {
            let l = label.get_or_insert(Label::NONE);
            l.any = true;
            if let Some(t) = b.kind {
                l.types[t] = true;
            }
        }
        if label.is_none() {
            label = sources.rsna.get(sop).copied();
        }
    }
    if label.is_none() {
        label = e.scan_label.filter(|l| !l.any);
    }
    vec![label; n]
}

/// Prepares the `plane` slices of `entries` (in parallel, one scan per task) with the labels
/// [`slice_labels`] finds; unlabelled slices are left out.
pub fn build(
    entries: &[ScanEntry],
    plane: Plane,
    config: PlaneConfig,
    min_area_mm2: Option<f64>,
    sources: &LabelSources,
) -> Result<PlaneData, String> {
    let min_area = min_area_mm2.unwrap_or(DEFAULT_MIN_AREA_MM2);
    // Single slices (RSNA-style 2D data) are accepted; they give axial samples only.
    let opts = ichscan_load::LoadOptions { allow_single_slice: true, ..Default::default() };
    let per_scan: Vec<Result<Vec<Sample>, String>> = entries
        .par_iter()
        .enumerate()
        .map(|(si, e)| {
            let scan = ichscan_load::load(&e.ct, &opts).map_err(|err| format!("{}: {err}", e.name))?;
            let single = scan.volume.dims()[2] == 1;
            if single && plane != Plane::Axial {
                return Ok(vec![]);
            }
            // A single slice (2D data such as RSNA's) is its own axial image, even when the
            // gantry was tilted: it is laid flat rather than reformatted into a thin oblique sheet.
            let volume = if single {
                let sp = scan.volume.spacing();
                let flat =
                    ichscan_geometry::Affine::new([0.0; 3], [[sp[0], 0.0, 0.0], [0.0, sp[1], 0.0], [0.0, 0.0, sp[2]]]);
                ichscan_geometry::Volume::new(scan.volume.data.to_owned(), flat, ichscan_geometry::SourceGrid::Same)
                    .map_err(|err| format!("{}: {err}", e.name))?
            } else {
                scan.volume.clone()
            };
            let prep = ichscan_slices::prepare(&volume, &[(plane, config)]);
            let stack = &prep.stacks[0];
            let labels = if single {
                single_slice_labels(e, &scan, stack.len(), sources)
            } else {
                slice_labels(e, &scan, stack, min_area, sources)?
            };
            Ok((0..stack.len())
                .filter(|&n| stack.has_head[n])
                .filter_map(|n| {
                    labels[n].map(|label| Sample {
                        hu: stack
                            .hu
                            .index_axis(ndarray::Axis(0), n)
                            .iter()
                            .map(|v| v.round().clamp(-32768.0, 32767.0) as i16)
                            .collect(),
                        label,
                        scan: si,
                        slice: n,
                    })
                })
                .collect())
        })
        .collect();
    let mut samples = Vec::new();
    for r in per_scan {
        samples.extend(r?);
    }
    Ok(PlaneData { plane, config, samples })
}

/// Random reflection (left-right), slight translation and rotation, per sample, on a batch
/// of windowed images (outside the image reads 0 = air in every window). `r` gives four
/// numbers in [0, 1) per sample.
pub fn augment(x: &Tensor, r: &[f64], max_shift: f64, max_rot_deg: f64) -> Tensor {
    let b = x.size()[0] as usize;
    let mut theta = Vec::with_capacity(b * 6);
    for s in 0..b {
        let (u0, u1, u2, u3) = (r[4 * s], r[4 * s + 1], r[4 * s + 2], r[4 * s + 3]);
        let flip = if u0 < 0.5 { -1.0 } else { 1.0 };
        let a = (2.0 * u1 - 1.0) * max_rot_deg.to_radians();
        let (tx, ty) = ((2.0 * u2 - 1.0) * max_shift, (2.0 * u3 - 1.0) * max_shift);
        // Output -> input sampling grid (normalised coordinates), a flip in x.
        theta.extend_from_slice(&[
            (flip * a.cos()) as f32,
            (-a.sin()) as f32,
            tx as f32,
            (flip * a.sin()) as f32,
            a.cos() as f32,
            ty as f32,
        ]);
    }
    let theta = Tensor::from_slice(&theta).view([b as i64, 2, 3]).to_device(x.device()).to_kind(Kind::Float);
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    x.grid_sampler(&grid, 0, 0, false)
}
