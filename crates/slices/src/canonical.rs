//! Putting any volume on ichscan's one canonical anatomical grid: **LPS**. Index i
//! increases towards the patient's left, j towards posterior, k towards superior (head);
//! the array is `[k, j, i]`. An axial image is then `[j, i]`: anterior at the top and the
//! patient's right on the image's left, the radiological convention.
//!
//! A volume whose axes lie along the patient axes (within [`ALIGN_TOL_DEG`]) is reordered
//! and flipped without interpolation. An oblique one is resampled trilinearly onto an
//! LPS grid covering it.

use ichscan_geometry::affine::add;
use ichscan_geometry::{Affine, Vec3, Volume, AIR_HU};
use ndarray::{ArcArray, Array3, Axis, Ix3};
use rayon::prelude::*;

/// Largest angle between a volume axis and a patient axis that still counts as aligned.
pub const ALIGN_TOL_DEG: f64 = 0.5;

/// A volume on the canonical LPS grid.
#[derive(Debug, Clone)]
pub struct Canonical {
    /// HU, `[k, j, i]` = `[S, P, L]` (shared with the volume when no reordering was needed).
    pub data: ArcArray<f32, Ix3>,
    /// Patient position of voxel (0, 0, 0).
    pub origin: Vec3,
    /// mm per voxel along L, P, S.
    pub spacing: [f64; 3],
    /// True when trilinear interpolation was needed (oblique input).
    pub resampled: bool,
}

impl Canonical {
    /// `[L, P, S]` sizes.
    pub fn dims(&self) -> [usize; 3] {
        let (k, j, i) = self.data.dim();
        [i, j, k]
    }

    pub fn affine(&self) -> Affine {
        let s = self.spacing;
        Affine::new(self.origin, [[s[0], 0.0, 0.0], [0.0, s[1], 0.0], [0.0, 0.0, s[2]]])
    }

    /// Fractional index along canonical axis `axis` of patient coordinate `mm` on that axis.
    pub fn index_of(&self, axis: usize, mm: f64) -> f64 {
        (mm - self.origin[axis]) / self.spacing[axis]
    }

    /// Patient coordinate along `axis` of index `idx`.
    pub fn mm_of(&self, axis: usize, idx: f64) -> f64 {
        self.origin[axis] + idx * self.spacing[axis]
    }
}

/// For each canonical axis: which volume axis lies along it and whether it points the
/// other way, or `None` when the volume is oblique.
fn alignment(v: &Volume) -> Option<[(usize, bool); 3]> {
    let dirs = v.affine.directions();
    let cos_tol = ALIGN_TOL_DEG.to_radians().cos();
    let mut map = [None; 3];
    for (a, d) in dirs.iter().enumerate() {
        let c = (0..3).max_by(|&x, &y| d[x].abs().total_cmp(&d[y].abs()))?;
        if d[c].abs() < cos_tol || map[c].is_some() {
            return None;
        }
        map[c] = Some((a, d[c] < 0.0));
    }
    Some([map[0]?, map[1]?, map[2]?])
}

pub fn to_canonical(v: &Volume) -> Canonical {
    match alignment(v) {
        Some(map) => reorder(v, map),
        None => resample_oblique(v),
    }
}

fn reorder(v: &Volume, map: [(usize, bool); 3]) -> Canonical {
    // ndarray axis of volume axis a is 2 - a; canonical axis c goes to ndarray axis 2 - c.
    let mut view = v.data.view().permuted_axes([2 - map[2].0, 2 - map[1].0, 2 - map[0].0]);
    let dims = v.dims();
    let spacing = v.spacing();
    let mut first = [0.0; 3];
    for (c, &(a, flip)) in map.iter().enumerate() {
        if flip {
            view.invert_axis(Axis(2 - c));
            first[a] = (dims[a] - 1) as f64;
        }
    }
    let identity = map.iter().enumerate().all(|(c, &(a, flip))| a == c && !flip);
    let data = if identity { v.data.clone() } else { view.as_standard_layout().into_owned().into_shared() };
    Canonical {
        data,
        origin: v.voxel_to_patient(first),
        spacing: [spacing[map[0].0], spacing[map[1].0], spacing[map[2].0]],
        resampled: false,
    }
}

fn resample_oblique(v: &Volume) -> Canonical {
    let dims = v.dims();
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for c in 0..8 {
        let ijk = [0, 1, 2].map(|d| if c >> d & 1 == 1 { (dims[d] - 1) as f64 } else { 0.0 });
        let p = v.voxel_to_patient(ijk);
        for d in 0..3 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    // Each patient axis gets the spacing of the volume axis closest to it.
    let dirs = v.affine.directions();
    let sp = v.spacing();
    let spacing = [0, 1, 2].map(|c| {
        let a = (0..3).max_by(|&x, &y| dirs[x][c].abs().total_cmp(&dirs[y][c].abs())).unwrap_or(c);
        sp[a]
    });
    let n = [0, 1, 2].map(|d| ((hi[d] - lo[d]) / spacing[d] + 1e-6).floor() as usize + 1);
    let inv = v.affine.inverse().expect("a Volume's affine is invertible");
    let mut data = Array3::<f32>::from_elem((n[2], n[1], n[0]), AIR_HU);
    data.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(k, mut plane)| {
        for ((j, i), out) in plane.indexed_iter_mut() {
            let p = add(lo, [i as f64 * spacing[0], j as f64 * spacing[1], k as f64 * spacing[2]]);
            *out = v.sample(inv.apply(p));
        }
    });
    Canonical { data: data.into_shared(), origin: lo, spacing, resampled: true }
}
