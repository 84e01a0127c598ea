//! Labels for the slices of each plane, from whatever the labels describe: a 3D mask,
//! labelled source slices, or 2D boxes on source slices.

use std::collections::HashMap;

use ichscan_geometry::{Vec3, Volume};
use ichscan_load::SourceSlices;
use ichscan_slices::{Plane, SliceStack};

use crate::labels::{BhxBox, Label};

/// Default: a slice is positive when the haemorrhage it holds has a mean cross-section of
/// at least 10 mm² over its slab (about a 3.5 x 3.5 mm spot) — smaller specks are not
/// something a reader would mark on that slice either.
pub const DEFAULT_MIN_AREA_MM2: f64 = 10.0;

/// Slices whose slab contains patient coordinate `c` along the plane normal.
fn slices_at(stack: &SliceStack, c: f64) -> std::ops::Range<usize> {
    if stack.is_empty() {
        return 0..0;
    }
    let half = stack.config.slab_mm.max(stack.config.step_mm) / 2.0;
    let step = stack.config.step_mm;
    let p0 = stack.positions_mm[0];
    let lo = ((c - half - p0) / step).ceil().max(0.0) as usize;
    let hi = (((c + half - p0) / step).floor() + 1.0).max(0.0) as usize;
    lo.min(stack.len())..hi.min(stack.len())
}

/// From a label mask (0 none, 1-5 the types in [`crate::labels::TYPES`] order, other
/// nonzero values: haemorrhage of unknown type), on any grid. Each slice gets the mean
/// cross-section of each type over its slab; `min_area_mm2` decides.
pub fn from_mask(stack: &SliceStack, mask: &Volume, min_area_mm2: f64) -> Vec<Label> {
    let a = stack.plane.normal_axis();
    let n = stack.len();
    let mut area = vec![[0.0f64; 6]; n];
    let voxel = mask.affine.determinant().abs();
    let slab = stack.config.slab_mm.max(stack.config.step_mm);
    for ((k, j, i), v) in mask.data.indexed_iter() {
        let lab = v.round() as i64;
        if lab <= 0 {
            continue;
        }
        let c = mask.voxel_to_patient([i as f64, j as f64, k as f64])[a];
        let t = if (1..=5).contains(&lab) { lab as usize } else { 0 };
        for s in slices_at(stack, c) {
            area[s][t] += voxel / slab;
        }
    }
    area.iter()
        .map(|ar| {
            let mut l = Label::NONE;
            for t in 0..5 {
                l.types[t] = ar[t + 1] >= min_area_mm2;
            }
            l.any = ar.iter().sum::<f64>() >= min_area_mm2 || l.types.iter().any(|x| *x);
            l
        })
        .collect()
}

/// Centre of source slice `s` (the middle of its image) in patient mm.
fn slice_centre(src: &SourceSlices, s: usize) -> Vec3 {
    let st = &src.stack;
    st.voxel_to_patient([(st.dims[0] - 1) as f64 / 2.0, (st.dims[1] - 1) as f64 / 2.0, s as f64])
}

/// Axial slice labels from labels of whole source slices (RSNA): a slab gets the merged
/// label of the labelled source slices whose image centre lies in it; slabs with none are
/// unknown. (A tilted source slice spans a range of z; its centre stands for it.)
pub fn axial_from_source_slices(
    stack: &SliceStack,
    src: &SourceSlices,
    by_sop: &HashMap<String, Label>,
) -> Vec<Option<Label>> {
    assert_eq!(stack.plane, Plane::Axial, "source slices are axial");
    let mut out: Vec<Option<Label>> = vec![None; stack.len()];
    for (s, sop) in src.sop_uids.iter().enumerate() {
        if let Some(l) = by_sop.get(sop) {
            let z = slice_centre(src, s)[2];
            for n in slices_at(stack, z) {
                out[n].get_or_insert(Label::NONE).merge(l);
            }
        }
    }
    out
}

/// A box in patient mm with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub min: Vec3,
    pub max: Vec3,
    pub label: Label,
}

/// BHX boxes of this scan's slices as 3D regions: the rectangle's corners on its slice
/// (pixel edges at whole annotation coordinates, so pixel centre i is at i + 0.5),
/// thickened by half a slice step either side along the normal.
pub fn bhx_regions(src: &SourceSlices, boxes: &[BhxBox]) -> Vec<Region> {
    let index: HashMap<&str, usize> = src.sop_uids.iter().enumerate().map(|(s, u)| (u.as_str(), s)).collect();
    let st = &src.stack;
    let steps = st.steps();
    let half = if steps.is_empty() {
        st.single_slice_spacing / 2.0
    } else {
        steps.iter().sum::<f64>() / steps.len() as f64 / 2.0
    };
    let n = st.normal();
    boxes
        .iter()
        .filter_map(|b| {
            let s = *index.get(b.sop_uid.as_str())? as f64;
            let (u0, u1) = (b.x - 0.5, b.x + b.width - 0.5);
            let (v0, v1) = (b.y - 0.5, b.y + b.height - 0.5);
            let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
            for (u, v) in [(u0, v0), (u1, v0), (u0, v1), (u1, v1)] {
                let p = st.voxel_to_patient([u, v, s]);
                for side in [-half, half] {
                    for d in 0..3 {
                        let q = p[d] + side * n[d];
                        lo[d] = lo[d].min(q);
                        hi[d] = hi[d].max(q);
                    }
                }
            }
            let label = match b.kind {
                Some(t) => Label::with_type(t),
                None => Label { any: true, types: [false; 5] },
            };
            Some(Region { min: lo, max: hi, label })
        })
        .collect()
}

/// Slice labels of a plane from 3D regions: a slice is positive (with the regions' types)
/// when its slab overlaps a region along the plane normal, negative otherwise.
pub fn from_regions(stack: &SliceStack, regions: &[Region]) -> Vec<Label> {
    let a = stack.plane.normal_axis();
    (0..stack.len())
        .map(|s| {
            let (lo, hi) = stack.extent_mm(s);
            let mut l = Label::NONE;
            for r in regions {
                if r.max[a] > lo && r.min[a] < hi {
                    l.merge(&r.label);
                }
            }
            l
        })
        .collect()
}
