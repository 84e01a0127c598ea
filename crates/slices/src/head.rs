//! Where the head is: a coarse mask of the largest connected body of tissue, so that slices
//! with only air (or only the table) are marked, and the image field of view is centred on
//! the head rather than on the scanner's field.

use ichscan_geometry::Vec3;
use ndarray::Array3;

use crate::canonical::Canonical;
use crate::resample::{apply, taps};

/// Tissue (soft tissue and bone) is above this, after averaging over a coarse cell.
pub const TISSUE_HU: f32 = -300.0;
/// Coarse cell size for the mask, mm.
pub const CELL_MM: f64 = 3.0;

#[derive(Debug, Clone)]
pub struct HeadMask {
    /// `[k, j, i]` on the coarse LPS grid.
    pub mask: Array3<bool>,
    /// Patient position of coarse cell (0, 0, 0)'s centre.
    pub origin: Vec3,
    pub cell_mm: f64,
    /// Bounding box of the head in patient mm, or `None` when no head was found.
    pub bbox_mm: Option<(Vec3, Vec3)>,
}

impl HeadMask {
    /// Head area (mm²) of each coarse plane across canonical `axis`.
    pub fn profile(&self, axis: usize) -> Vec<f64> {
        let (nk, nj, ni) = self.mask.dim();
        let n = [ni, nj, nk][axis];
        let mut out = vec![0.0; n];
        for ((k, j, i), m) in self.mask.indexed_iter() {
            if *m {
                out[[i, j, k][axis]] += self.cell_mm * self.cell_mm;
            }
        }
        out
    }

    /// Largest head cross-section (mm²) within patient coordinates [lo, hi] along `axis`
    /// (the coarse plane nearest to the middle when the range is thinner than a cell).
    pub fn area_between(&self, profile: &[f64], axis: usize, lo: f64, hi: f64) -> f64 {
        let idx = |mm: f64| (mm - self.origin[axis]) / self.cell_mm;
        let (a, b) = (idx(lo).ceil().max(0.0) as usize, idx(hi).floor());
        let mut best: f64 = 0.0;
        if b >= a as f64 {
            let end = (b as usize + 1).min(profile.len());
            best = profile.get(a..end).unwrap_or(&[]).iter().copied().fold(0.0, f64::max);
        } else {
            let mid = idx((lo + hi) / 2.0).round();
            if mid >= 0.0 && (mid as usize) < profile.len() {
                best = profile[mid as usize];
            }
        }
        best
    }
}

pub fn head_mask(c: &Canonical) -> HeadMask {
    let dims = c.dims();
    let mut origin = [0.0; 3];
    // Cells tile the volume from its first voxel's edge; i first (largest reduction), read
    // in place from the canonical volume.
    let mut pass = |src: ndarray::ArrayView3<f32>, axis: usize| {
        let n_in = dims[axis];
        let sp = c.spacing[axis];
        let n_out = ((n_in as f64 * sp) / CELL_MM).ceil().max(1.0) as usize;
        // A volume thinner than a cell along this axis (a single slice) is one cell of its
        // own thickness, not a cell diluted with air.
        let (coords, footprint): (Vec<f64>, f64) = if n_out == 1 {
            (vec![(n_in as f64 - 1.0) / 2.0], n_in as f64)
        } else {
            ((0..n_out).map(|m| ((m as f64 + 0.5) * CELL_MM - sp / 2.0) / sp).collect(), CELL_MM / sp)
        };
        origin[axis] = c.mm_of(axis, coords[0]);
        apply(src, 2 - axis, &taps(n_in, &coords, footprint), crate::AIR)
    };
    let coarse = pass(c.data.view(), 0);
    let coarse = pass(coarse.view(), 1);
    let coarse = pass(coarse.view(), 2);
    let tissue = coarse.mapv(|v| v > TISSUE_HU);
    // Opening (erode, dilate) breaks thin contacts such as a head-holder touching the scalp.
    let opened = dilate(&erode(&tissue));
    let mask = largest_component(&opened);
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for ((k, j, i), m) in mask.indexed_iter() {
        if *m {
            for (d, idx) in [i, j, k].into_iter().enumerate() {
                let mm = origin[d] + idx as f64 * CELL_MM;
                lo[d] = lo[d].min(mm - CELL_MM / 2.0);
                hi[d] = hi[d].max(mm + CELL_MM / 2.0);
            }
        }
    }
    let bbox_mm = lo[0].is_finite().then_some((lo, hi));
    HeadMask { mask, origin, cell_mm: CELL_MM, bbox_mm }
}

fn neighbourhood(m: &Array3<bool>, want: bool) -> Array3<bool> {
    // 3x3x3 box: true where every (erode) / any (dilate) neighbour is true.
    let (nk, nj, ni) = m.dim();
    let mut out = Array3::from_elem((nk, nj, ni), !want);
    for ((k, j, i), o) in out.indexed_iter_mut() {
        let mut hit = false;
        'outer: for dk in -1i64..=1 {
            for dj in -1i64..=1 {
                for di in -1i64..=1 {
                    // The border is replicated, so a volume one cell thick (a single slice)
                    // is not eroded away through its faces.
                    let c = |x: usize, d: i64, n: usize| (x as i64 + d).clamp(0, n as i64 - 1) as usize;
                    let v = m[[c(k, dk, nk), c(j, dj, nj), c(i, di, ni)]];
                    if v == want {
                        hit = true;
                        break 'outer;
                    }
                }
            }
        }
        *o = if want { hit } else { !hit };
    }
    out
}

fn erode(m: &Array3<bool>) -> Array3<bool> {
    neighbourhood(m, false)
}

fn dilate(m: &Array3<bool>) -> Array3<bool> {
    neighbourhood(m, true)
}

/// The largest 6-connected component.
fn largest_component(m: &Array3<bool>) -> Array3<bool> {
    let (nk, nj, ni) = m.dim();
    let mut label = Array3::<u32>::zeros((nk, nj, ni));
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..nk * nj * ni {
        let (k, j, i) = (start / (nj * ni), (start / ni) % nj, start % ni);
        if !m[[k, j, i]] || label[[k, j, i]] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        sizes.push(0);
        label[[k, j, i]] = id;
        stack.push((k, j, i));
        while let Some((k, j, i)) = stack.pop() {
            sizes[id as usize] += 1;
            let nb = [
                (k.wrapping_sub(1), j, i),
                (k + 1, j, i),
                (k, j.wrapping_sub(1), i),
                (k, j + 1, i),
                (k, j, i.wrapping_sub(1)),
                (k, j, i + 1),
            ];
            for (a, b, c) in nb {
                if a < nk && b < nj && c < ni && m[[a, b, c]] && label[[a, b, c]] == 0 {
                    label[[a, b, c]] = id;
                    stack.push((a, b, c));
                }
            }
        }
    }
    let best = (1..sizes.len()).max_by_key(|&l| sizes[l]).unwrap_or(0) as u32;
    label.mapv(|l| best != 0 && l == best)
}
