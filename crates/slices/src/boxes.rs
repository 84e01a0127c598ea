//! From ranges of positive slices in the three planes to a 3D box, the method's rule: the
//! box spans, along each patient axis, the slabs of the positive slices of the plane
//! whose normal is that axis (sagittal -> x, coronal -> y, axial -> z).

use ichscan_geometry::{SourceGrid, Vec3, Volume};
use serde::Serialize;

use crate::plane::{Plane, SliceStack};

/// A box in patient mm and in the input's own voxel indices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Box3 {
    /// LPS mm, [x, y, z].
    pub patient_mm_min: Vec3,
    pub patient_mm_max: Vec3,
    /// Inclusive [i, j, k] = [column, row, sorted slice] of the input grid: every input
    /// voxel whose centre lies in the box (clamped to the grid; along an axis where no
    /// centre does, the voxel nearest the box's middle).
    pub voxel_min: [usize; 3],
    pub voxel_max: [usize; 3],
}

/// `ranges[plane]` = inclusive (first, last) positive slice of that plane's stack.
pub fn box_from_ranges(stacks: &[&SliceStack], ranges: &[(Plane, usize, usize)], volume: &Volume) -> Option<Box3> {
    let mut lo = [f64::NAN; 3];
    let mut hi = [f64::NAN; 3];
    for &(plane, first, last) in ranges {
        let s = stacks.iter().find(|s| s.plane == plane)?;
        if first > last || last >= s.len() {
            return None;
        }
        let a = plane.normal_axis();
        lo[a] = s.extent_mm(first).0;
        hi[a] = s.extent_mm(last).1;
    }
    if lo.iter().chain(hi.iter()).any(|v| v.is_nan()) {
        return None;
    }
    let dims = match &volume.source {
        SourceGrid::Same => volume.dims(),
        SourceGrid::Stack(st) => [st.dims[0], st.dims[1], st.origins.len()],
    };
    let (mut vlo, mut vhi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for c in 0..8 {
        let p = [0, 1, 2].map(|d| if c >> d & 1 == 1 { hi[d] } else { lo[d] });
        let v = volume.patient_to_source_voxel(p);
        for d in 0..3 {
            vlo[d] = vlo[d].min(v[d]);
            vhi[d] = vhi[d].max(v[d]);
        }
    }
    let clamp = |x: f64, d: usize| x.max(0.0).min((dims[d] - 1) as f64) as usize;
    let mut voxel_min = [0, 1, 2].map(|d| clamp((vlo[d] - 1e-6).ceil(), d));
    let mut voxel_max = [0, 1, 2].map(|d| clamp((vhi[d] + 1e-6).floor(), d));
    for d in 0..3 {
        // A box thinner than the input's spacing (one 5 mm slab in 7 mm slices) may hold no
        // voxel centre along an axis: it gets the voxel nearest its middle.
        if voxel_min[d] > voxel_max[d] {
            voxel_min[d] = clamp(((vlo[d] + vhi[d]) / 2.0).round(), d);
            voxel_max[d] = voxel_min[d];
        }
    }
    Some(Box3 { patient_mm_min: lo, patient_mm_max: hi, voxel_min, voxel_max })
}
