//! A stack of parallel image planes, as a CT scanner writes them: each slice has its
//! own origin (DICOM ImagePositionPatient), all share the row/column directions and
//! pixel spacing. With gantry tilt the origins do not move along the plane normal;
//! with uneven spacing they do not move by equal steps. Either way the stack is not an
//! affine grid, and [`PlaneStack::resample`] puts it on one.

use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;
use serde::Serialize;

use crate::affine::{add, cross, dot, normalize, scale, sub, Affine, Vec3};
use crate::{GeometryError, AIR_HU};

/// Two steps whose lengths differ by less than this are equal (mm, or the relative
/// part of [`UNIFORM_REL_TOL`], whichever is larger). Positions in DICOM files are often
/// rounded to 1 µm or 10 µm, so exact equality would call every scan uneven.
pub const UNIFORM_ABS_TOL_MM: f64 = 0.02;
pub const UNIFORM_REL_TOL: f64 = 0.01;
/// A step this many times its neighbours' means slices are missing.
pub const GAP_FACTOR: f64 = 1.5;
/// In-plane drift of slice origins (in pixels) above which the stack is resampled.
pub const DRIFT_TOL_PX: f64 = 0.05;

/// Parallel slices with shared in-plane geometry, sorted along the plane normal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaneStack {
    /// Unit direction of increasing column index i (first triplet of ImageOrientationPatient).
    pub row_dir: Vec3,
    /// Unit direction of increasing row index j (second triplet).
    pub col_dir: Vec3,
    /// Pixel size in mm along `row_dir` and along `col_dir`.
    pub pixel_spacing: [f64; 2],
    /// Columns and rows of each slice.
    pub dims: [usize; 2],
    /// Position of pixel (0, 0)'s centre of each slice, in increasing normal position.
    pub origins: Vec<Vec3>,
    /// Slice thickness used as the k spacing of a single-slice stack.
    pub single_slice_spacing: f64,
}

/// How the slice positions are spaced along the normal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpacingReport {
    /// Every step within tolerance of the median.
    pub uniform: bool,
    pub median_mm: f64,
    pub min_mm: f64,
    pub max_mm: f64,
    /// (slice index before the gap, estimated number of missing slices).
    pub gaps: Vec<(usize, usize)>,
}

/// The regular grid a stack is put on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridPlan {
    pub affine: Affine,
    /// [columns, rows, slices]
    pub dims: [usize; 3],
    /// False when the stack already is this grid (no interpolation happens).
    pub resampled: bool,
}

impl PlaneStack {
    /// Checks the geometry and sorts nothing: `origins` must already be in increasing
    /// normal position (see [`sort_key`](Self::sort_key)).
    pub fn new(
        row_dir: Vec3,
        col_dir: Vec3,
        pixel_spacing: [f64; 2],
        dims: [usize; 2],
        origins: Vec<Vec3>,
        single_slice_spacing: f64,
    ) -> Result<Self, GeometryError> {
        let r = normalize(row_dir).ok_or(GeometryError::BadOrientation("zero row direction"))?;
        let c = normalize(col_dir).ok_or(GeometryError::BadOrientation("zero column direction"))?;
        if dot(r, c).abs() > 1e-3 {
            return Err(GeometryError::BadOrientation("row and column directions are not orthogonal"));
        }
        if !pixel_spacing.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(GeometryError::BadSpacing(format!("pixel spacing {pixel_spacing:?}")));
        }
        if dims[0] == 0 || dims[1] == 0 {
            return Err(GeometryError::Empty);
        }
        if origins.is_empty() {
            return Err(GeometryError::Empty);
        }
        if origins.iter().flatten().any(|v| !v.is_finite()) {
            return Err(GeometryError::BadSpacing("non-finite slice position".into()));
        }
        if !(single_slice_spacing.is_finite() && single_slice_spacing > 0.0) {
            return Err(GeometryError::BadSpacing(format!("slice thickness {single_slice_spacing}")));
        }
        let stack = Self { row_dir: r, col_dir: c, pixel_spacing, dims, origins, single_slice_spacing };
        let pos = stack.positions();
        for (k, w) in pos.windows(2).enumerate() {
            if w[1] - w[0] < 1e-3 {
                return Err(GeometryError::CoincidentSlices(k, k + 1));
            }
        }
        Ok(stack)
    }

    /// Unit normal of the image planes, row x column (the direction slices are sorted in).
    pub fn normal(&self) -> Vec3 {
        cross(self.row_dir, self.col_dir)
    }

    /// The value slices are sorted by: the position projected on the plane normal.
    pub fn sort_key(row_dir: Vec3, col_dir: Vec3, origin: Vec3) -> f64 {
        dot(cross(row_dir, col_dir), origin)
    }

    /// Each slice's position along the normal, mm.
    pub fn positions(&self) -> Vec<f64> {
        let n = self.normal();
        self.origins.iter().map(|o| dot(n, *o)).collect()
    }

    /// Distances between consecutive slices along the normal, mm.
    pub fn steps(&self) -> Vec<f64> {
        self.positions().windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Angle between the line the slice origins move along and the plane normal: the
    /// gantry tilt, in degrees (0 for a single slice).
    pub fn tilt_deg(&self) -> f64 {
        let (Some(first), Some(last)) = (self.origins.first(), self.origins.last()) else {
            return 0.0;
        };
        match normalize(sub(*last, *first)) {
            Some(d) => dot(d, self.normal()).clamp(-1.0, 1.0).acos().to_degrees(),
            None => 0.0,
        }
    }

    /// In-plane offsets (mm along row_dir, col_dir) of each origin relative to the first.
    fn in_plane_offsets(&self) -> Vec<[f64; 2]> {
        let o0 = self.origins[0];
        self.origins
            .iter()
            .map(|o| {
                let d = sub(*o, o0);
                [dot(d, self.row_dir), dot(d, self.col_dir)]
            })
            .collect()
    }

    /// Largest in-plane drift of a slice origin, in pixels: tilt (or a jitter) shows here.
    pub fn max_drift_px(&self) -> f64 {
        self.in_plane_offsets()
            .iter()
            .map(|[u, v]| (u / self.pixel_spacing[0]).abs().max((v / self.pixel_spacing[1]).abs()))
            .fold(0.0, f64::max)
    }

    pub fn spacing_report(&self) -> SpacingReport {
        let steps = self.steps();
        if steps.is_empty() {
            let t = self.single_slice_spacing;
            return SpacingReport { uniform: true, median_mm: t, min_mm: t, max_mm: t, gaps: vec![] };
        }
        let median = median(&steps);
        let tol = UNIFORM_ABS_TOL_MM.max(UNIFORM_REL_TOL * median);
        // A gap is a step well over its neighbours' (not the global median: a protocol that
        // changes from 4 to 7 mm slices has no gap).
        let gaps = (0..steps.len())
            .filter_map(|k| {
                let near: Vec<f64> =
                    (k.saturating_sub(2)..(k + 3).min(steps.len())).filter(|&o| o != k).map(|o| steps[o]).collect();
                let local = if near.is_empty() { median } else { crate::stack::median(&near) };
                (steps[k] > GAP_FACTOR * local)
                    .then(|| (k, ((steps[k] / local).round() as usize).saturating_sub(1).max(1)))
            })
            .collect();
        SpacingReport {
            uniform: steps.iter().all(|s| (s - median).abs() <= tol),
            median_mm: median,
            min_mm: steps.iter().copied().fold(f64::INFINITY, f64::min),
            max_mm: steps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            gaps,
        }
    }

    /// The regular, orthogonal grid for this stack.
    ///
    /// A stack with uniform steps along the normal and no in-plane drift is its own grid.
    /// Otherwise the k axis follows the line the slice origins move along (the table
    /// direction: for a gantry-tilted head scan that is the patient's z axis), stepping by
    /// the median distance between origins along it, from the first slice to the last; i
    /// keeps the row direction (made orthogonal to k), j completes a right-handed frame,
    /// and the in-plane matrix and pixel size are kept, centred on the slices' mean centre.
    /// So a tilted axial scan comes out axis-aligned with the patient, with the table
    /// increment as its slice spacing, and later reorientation needs no second
    /// interpolation.
    pub fn plan(&self) -> GridPlan {
        let [sx, sy] = self.pixel_spacing;
        let nk = self.origins.len();
        let report = self.spacing_report();
        if nk == 1 || (report.uniform && self.max_drift_px() <= DRIFT_TOL_PX) {
            let k_axis = if nk == 1 {
                scale(self.normal(), self.single_slice_spacing)
            } else {
                scale(sub(self.origins[nk - 1], self.origins[0]), 1.0 / (nk - 1) as f64)
            };
            let affine = Affine::new(self.origins[0], [scale(self.row_dir, sx), scale(self.col_dir, sy), k_axis]);
            return GridPlan { affine, dims: [self.dims[0], self.dims[1], nk], resampled: false };
        }
        let (first, last) = (self.origins[0], self.origins[nk - 1]);
        let m = normalize(sub(last, first)).unwrap_or(self.normal());
        let i_dir = normalize(sub(self.row_dir, scale(m, dot(self.row_dir, m)))).unwrap_or(self.row_dir);
        let j_dir = cross(m, i_dir);
        let steps: Vec<f64> = self.origins.windows(2).map(|w| dot(sub(w[1], w[0]), m)).collect();
        let dz = median(&steps);
        let out_k = (dot(sub(last, first), m) / dz + 1e-6).floor() as usize + 1;
        // Mean centre of the slices, moved along m to the first slice's level.
        let half = [(self.dims[0] - 1) as f64 / 2.0, (self.dims[1] - 1) as f64 / 2.0];
        let mut centre = [0.0; 3];
        for o in &self.origins {
            let c = add(*o, add(scale(self.row_dir, half[0] * sx), scale(self.col_dir, half[1] * sy)));
            centre = add(centre, scale(c, 1.0 / nk as f64));
        }
        let centre = add(centre, scale(m, dot(sub(first, centre), m)));
        let origin = sub(centre, add(scale(i_dir, half[0] * sx), scale(j_dir, half[1] * sy)));
        let affine = Affine::new(origin, [scale(i_dir, sx), scale(j_dir, sy), scale(m, dz)]);
        GridPlan { affine, dims: [self.dims[0], self.dims[1], out_k], resampled: true }
    }

    /// Puts the slices (`[k, j, i]`, one per origin) on `plan`'s grid (returned as they are
    /// when the plan needs no resampling): each output voxel
    /// is placed by its normal position between the two bracketing slices (linear), and
    /// read bilinearly in each. Points outside a slice's field of view read as air.
    pub fn resample(&self, slices: Array3<f32>, plan: &GridPlan) -> Array3<f32> {
        let [ni, nj, nk] = plan.dims;
        assert_eq!(slices.dim(), (self.origins.len(), self.dims[1], self.dims[0]), "slice array shape");
        if !plan.resampled {
            return slices;
        }
        let pos = self.positions();
        let n = self.normal();
        let [sx, sy] = self.pixel_spacing;
        let a = plan.affine;
        // Per output step along i: change of normal position and of in-plane pixel coords.
        let dd = dot(n, a.axes[0]);
        let (du, dv) = (dot(a.axes[0], self.row_dir) / sx, dot(a.axes[0], self.col_dir) / sy);
        // Each end slice stands for half a step beyond itself; past that is unscanned: air.
        let half_first = (pos[1] - pos[0]) / 2.0;
        let half_last = (pos[pos.len() - 1] - pos[pos.len() - 2]) / 2.0;
        let (lo, hi) = (pos[0] - half_first - 1e-9, pos[pos.len() - 1] + half_last + 1e-9);
        let bracket = |d: f64| -> (usize, usize, f32) {
            if d < lo || d > hi {
                return (usize::MAX, usize::MAX, 0.0);
            }
            let s = pos.partition_point(|p| *p <= d + 1e-9).clamp(1, pos.len()) - 1;
            if s + 1 < pos.len() {
                (s, s + 1, ((d - pos[s]) / (pos[s + 1] - pos[s])).clamp(0.0, 1.0) as f32)
            } else {
                (s, s, 0.0)
            }
        };
        let mut out = Array3::<f32>::from_elem((nk, nj, ni), AIR_HU);
        out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(k, mut plane)| {
            for (j, mut row) in plane.axis_iter_mut(Axis(0)).enumerate() {
                let x0 = a.apply([0.0, j as f64, k as f64]);
                let d0 = dot(n, x0);
                // Pixel coordinates of x0 in slice s.
                let uv = |s: usize| {
                    if s == usize::MAX {
                        return (0.0, 0.0);
                    }
                    let off = sub(x0, self.origins[s]);
                    (dot(off, self.row_dir) / sx, dot(off, self.col_dir) / sy)
                };
                let constant = (dd * ni as f64).abs() < 1e-6;
                let mut cached = bracket(d0);
                let (mut uv0, mut uv1) = (uv(cached.0), uv(cached.1));
                // Gantry tilt (the usual case): the output row runs along a source row, one
                // pixel per step, so the interpolation weights are the same along the whole
                // row (drift under 1e-6 pixel) and only the indices move.
                let along_rows = ((du - 1.0) * ni as f64).abs() < 1e-6 && (dv * ni as f64).abs() < 1e-6;
                if constant && along_rows {
                    let (s0, s1, w) = cached;
                    let row = row.as_slice_mut().expect("output rows are contiguous");
                    if s0 == usize::MAX {
                        row.fill(AIR_HU);
                    } else {
                        bilinear_row(slices.index_axis(Axis(0), s0), uv0, row, None);
                        if w != 0.0 {
                            bilinear_row(slices.index_axis(Axis(0), s1), uv1, row, Some(w));
                        }
                    }
                    continue;
                }
                for i in 0..ni {
                    if !constant {
                        let b = bracket(d0 + dd * i as f64);
                        if (b.0, b.1) != (cached.0, cached.1) {
                            uv0 = uv(b.0);
                            uv1 = uv(b.1);
                        }
                        cached = b;
                    }
                    let (s0, s1, w) = cached;
                    if s0 == usize::MAX {
                        row[i] = AIR_HU;
                        continue;
                    }
                    let t = i as f64;
                    let v0 = bilinear(slices.index_axis(Axis(0), s0), uv0.0 + t * du, uv0.1 + t * dv);
                    row[i] = if w == 0.0 {
                        v0
                    } else {
                        let v1 = bilinear(slices.index_axis(Axis(0), s1), uv1.0 + t * du, uv1.1 + t * dv);
                        (1.0 - w) * v0 + w * v1
                    };
                }
            }
        });
        out
    }

    /// Patient position of fractional source indices (i, j, k): k between two slices
    /// interpolates their origins linearly.
    pub fn voxel_to_patient(&self, ijk: Vec3) -> Vec3 {
        let o = self.origin_at(ijk[2]);
        add(
            o,
            add(
                scale(self.row_dir, ijk[0] * self.pixel_spacing[0]),
                scale(self.col_dir, ijk[1] * self.pixel_spacing[1]),
            ),
        )
    }

    /// Fractional source indices (i, j, k) of a patient point: k from its normal position
    /// between the bracketing slices (extrapolated past the ends by the end steps), i and
    /// j within the plane through that interpolated origin.
    pub fn patient_to_voxel(&self, p: Vec3) -> Vec3 {
        let pos = self.positions();
        let d = dot(self.normal(), p);
        let k = if pos.len() == 1 {
            (d - pos[0]) / self.single_slice_spacing
        } else {
            let s = pos.partition_point(|q| *q <= d).clamp(1, pos.len() - 1) - 1;
            s as f64 + (d - pos[s]) / (pos[s + 1] - pos[s])
        };
        let off = sub(p, self.origin_at(k));
        [dot(off, self.row_dir) / self.pixel_spacing[0], dot(off, self.col_dir) / self.pixel_spacing[1], k]
    }

    fn origin_at(&self, k: f64) -> Vec3 {
        let n = self.origins.len();
        if n == 1 {
            return add(self.origins[0], scale(self.normal(), k * self.single_slice_spacing));
        }
        let s = (k.floor().max(0.0) as usize).min(n - 2);
        let t = k - s as f64;
        let a = self.origins[s];
        let b = self.origins[s + 1];
        add(a, scale(sub(b, a), t))
    }
}

/// Bilinear read of a slice at pixel coordinates (u = column, v = row); air outside.
#[inline]
fn bilinear(src: ArrayView2<f32>, u: f64, v: f64) -> f32 {
    let (nj, ni) = src.dim();
    let (fu, fv) = (u.floor(), v.floor());
    let (tu, tv) = ((u - fu) as f32, (v - fv) as f32);
    let (iu, iv) = (fu as i64, fv as i64);
    let get = |j: i64, i: i64| -> f32 {
        if i < 0 || j < 0 || i >= ni as i64 || j >= nj as i64 {
            AIR_HU
        } else {
            src[(j as usize, i as usize)]
        }
    };
    let top = if tu == 0.0 { get(iv, iu) } else { (1.0 - tu) * get(iv, iu) + tu * get(iv, iu + 1) };
    if tv == 0.0 {
        return top;
    }
    let bottom = if tu == 0.0 { get(iv + 1, iu) } else { (1.0 - tu) * get(iv + 1, iu) + tu * get(iv + 1, iu + 1) };
    (1.0 - tv) * top + tv * bottom
}

/// [`bilinear`] at (u0 + i, v0) for every i of `out`. With `blend = Some(w)` the result
/// is mixed into `out` as `(1 - w) * out + w * value` (the second of two slices).
fn bilinear_row(src: ArrayView2<f32>, (u0, v0): (f64, f64), out: &mut [f32], blend: Option<f32>) {
    let (nj, ni) = src.dim();
    let (fu, fv) = (u0.floor(), v0.floor());
    let (tu, tv) = ((u0 - fu) as f32, (v0 - fv) as f32);
    let (iu, iv) = (fu as i64, fv as i64);
    let src_row = |j: i64| (j >= 0 && j < nj as i64).then(|| src.row(j as usize));
    let (top_row, bottom_row) = (src_row(iv), src_row(iv + 1));
    let get = |r: &Option<ndarray::ArrayView1<f32>>, i: i64| match r {
        Some(r) if i >= 0 && i < ni as i64 => r[i as usize],
        _ => AIR_HU,
    };
    // The interior, where both rows exist and columns c and c + 1 are inside: the same
    // arithmetic on plain slices, which the compiler vectorises (the tilt correction of a
    // whole scan goes through here).
    let n = out.len() as i64;
    // Saturating: a far-off u0 (the float-to-int cast saturates at i64::MIN/MAX) must not overflow.
    let (lo, hi) = (iu.saturating_neg().clamp(0, n) as usize, (ni as i64 - 1).saturating_sub(iu).clamp(0, n) as usize);
    let rows = (top_row.as_ref().and_then(|r| r.as_slice()), bottom_row.as_ref().and_then(|r| r.as_slice()));
    let (lo, hi) = match rows {
        (Some(t), b) if lo < hi && (tv == 0.0 || b.is_some()) => {
            let c0 = (iu + lo as i64) as usize;
            let len = hi - lo;
            let lerp = |r: &[f32], k: usize| if tu == 0.0 { r[k] } else { (1.0 - tu) * r[k] + tu * r[k + 1] };
            let (t, b) = (&t[c0..c0 + len + 1], b.map(|b| &b[c0..c0 + len + 1]));
            for (k, o) in out[lo..hi].iter_mut().enumerate() {
                let top = lerp(t, k);
                let v = match b {
                    Some(b) if tv != 0.0 => (1.0 - tv) * top + tv * lerp(b, k),
                    _ => top,
                };
                *o = match blend {
                    None => v,
                    Some(w) => (1.0 - w) * *o + w * v,
                };
            }
            (lo, hi)
        }
        _ => (0, 0),
    };
    for (i, o) in out.iter_mut().enumerate() {
        if i >= lo && i < hi {
            continue;
        }
        let c = iu + i as i64;
        let lerp = |r| if tu == 0.0 { get(r, c) } else { (1.0 - tu) * get(r, c) + tu * get(r, c + 1) };
        let top = lerp(&top_row);
        let v = if tv == 0.0 { top } else { (1.0 - tv) * top + tv * lerp(&bottom_row) };
        *o = match blend {
            None => v,
            Some(w) => (1.0 - w) * *o + w * v,
        };
    }
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row version (with its vectorised interior) gives, bit for bit, what the
    /// point-wise [`bilinear`] gives at every position, edges and outside included, and
    /// blends the same way. Offsets are multiples of 1/4, so u0 + i is exact in both.
    #[test]
    fn bilinear_row_equals_pointwise_bilinear() {
        let (nj, ni) = (7, 9);
        let src = ndarray::Array2::from_shape_fn((nj, ni), |(j, i)| ((j * 31 + i * 17) % 23) as f32 * 10.0 - 50.0);
        let mut n = 0;
        for u0 in [-13.0, -3.25, -1.0, 0.0, 0.5, 2.75, 6.5, 8.0, 9.25] {
            for v0 in [-2.0, -1.5, -1.0, 0.0, 2.25, 5.75, 6.0, 7.0] {
                for blend in [None, Some(0.3f32)] {
                    let before: Vec<f32> = (0..12).map(|i| i as f32 * 7.0 - 20.0).collect();
                    let mut out = before.clone();
                    bilinear_row(src.view(), (u0, v0), &mut out, blend);
                    for i in 0..12 {
                        let v = bilinear(src.view(), u0 + i as f64, v0);
                        let want = match blend {
                            None => v,
                            Some(w) => (1.0 - w) * before[i] + w * v,
                        };
                        assert_eq!(out[i].to_bits(), want.to_bits(), "u0 {u0} v0 {v0} i {i} {blend:?}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 9 * 8 * 2 * 12);
    }
}
