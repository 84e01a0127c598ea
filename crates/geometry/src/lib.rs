//! # ichscan-geometry
//!
//! The one owner of geometry in ichscan: where every voxel is in the patient.
//!
//! * [`Affine`]: voxel indices `[i, j, k]` (column, row, slice) to DICOM patient
//!   coordinates (LPS: +x to the patient's left, +y posterior, +z towards the head), mm.
//! * [`PlaneStack`]: a scanner's stack of parallel slices with per-slice origins. It
//!   measures gantry tilt and uneven spacing and resamples onto a regular grid.
//! * [`Volume`]: f32 Hounsfield units on a regular grid plus its affine, and the
//!   geometry of the source it came from ([`SourceGrid`]) so any result can be mapped
//!   back to the input's own voxel indices.
//!
//! Array layout: `data[[k, j, i]]`, so a slice is contiguous and a row within it too,
//! as in DICOM pixel data. Dimensions are reported the other way round, `[i, j, k]` =
//! `[columns, rows, slices]`, as users know them.
//!
//! This crate depends on nothing heavier than ndarray and rayon, so it builds and
//! tests in seconds.

pub mod affine;
pub mod stack;

pub use affine::{Affine, InverseAffine, Vec3};
pub use stack::{GridPlan, PlaneStack, SpacingReport};

use ndarray::{ArcArray, Array3, Ix3};
use serde::Serialize;

/// HU given to voxels outside the scanned field and to padding: air.
pub const AIR_HU: f32 = -1024.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("bad image orientation: {0}")]
    BadOrientation(&'static str),
    #[error("bad spacing: {0}")]
    BadSpacing(String),
    #[error("no voxels")]
    Empty,
    #[error("slices {0} and {1} are at the same position")]
    CoincidentSlices(usize, usize),
    #[error("singular voxel-to-patient matrix")]
    Singular,
}

/// The voxel grid of the input as stored, for mapping results back to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceGrid {
    /// The volume's own grid is the input's grid (no resampling happened).
    Same,
    /// The input was a stack of slices that was resampled (tilt or uneven spacing).
    Stack(PlaneStack),
}

/// A CT volume in Hounsfield units on a regular grid.
#[derive(Debug, Clone)]
pub struct Volume {
    /// HU, indexed `[k, j, i]`. Shared, so that views of the volume on the same grid
    /// (e.g. an already-canonical one) cost no copy.
    pub data: ArcArray<f32, Ix3>,
    /// Voxel `[i, j, k]` -> patient LPS mm.
    pub affine: Affine,
    /// Where the voxels came from.
    pub source: SourceGrid,
}

impl Volume {
    pub fn new(data: Array3<f32>, affine: Affine, source: SourceGrid) -> Result<Self, GeometryError> {
        if data.is_empty() {
            return Err(GeometryError::Empty);
        }
        if affine.inverse().is_none() {
            return Err(GeometryError::Singular);
        }
        Ok(Self { data: data.into_shared(), affine, source })
    }

    /// `[columns, rows, slices]` = sizes along i, j, k.
    pub fn dims(&self) -> [usize; 3] {
        let (k, j, i) = self.data.dim();
        [i, j, k]
    }

    /// mm per voxel along i, j, k.
    pub fn spacing(&self) -> [f64; 3] {
        self.affine.spacing()
    }

    /// (min, max) HU over all voxels.
    pub fn hu_range(&self) -> (f32, f32) {
        self.data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }

    pub fn voxel_to_patient(&self, ijk: Vec3) -> Vec3 {
        self.affine.apply(ijk)
    }

    /// Fractional indices in this volume's grid of a patient point.
    pub fn patient_to_voxel(&self, p: Vec3) -> Vec3 {
        self.affine.inverse().expect("checked in Volume::new").apply(p)
    }

    /// Fractional indices in the *input's* grid (column, row, sorted slice) of a patient point.
    pub fn patient_to_source_voxel(&self, p: Vec3) -> Vec3 {
        match &self.source {
            SourceGrid::Same => self.patient_to_voxel(p),
            SourceGrid::Stack(s) => s.patient_to_voxel(p),
        }
    }

    /// HU at fractional voxel indices by trilinear interpolation; air outside the grid.
    pub fn sample(&self, ijk: Vec3) -> f32 {
        let (nk, nj, ni) = self.data.dim();
        let n = [ni, nj, nk];
        let mut base = [0usize; 3];
        let mut frac = [0f32; 3];
        for d in 0..3 {
            let x = ijk[d];
            // Allow the last index exactly; beyond half a voxel past the end is outside.
            if !(x >= -1e-6 && x <= (n[d] - 1) as f64 + 1e-6) {
                return AIR_HU;
            }
            let f = x.max(0.0).floor();
            let b = (f as usize).min(n[d].saturating_sub(2));
            base[d] = b;
            frac[d] = if n[d] == 1 { 0.0 } else { (x - b as f64) as f32 };
        }
        let mut acc = 0.0f32;
        for dk in 0..2usize {
            for dj in 0..2usize {
                for di in 0..2usize {
                    let w = (if di == 1 { frac[0] } else { 1.0 - frac[0] })
                        * (if dj == 1 { frac[1] } else { 1.0 - frac[1] })
                        * (if dk == 1 { frac[2] } else { 1.0 - frac[2] });
                    if w != 0.0 {
                        let idx = [(base[2] + dk).min(nk - 1), (base[1] + dj).min(nj - 1), (base[0] + di).min(ni - 1)];
                        acc += w * self.data[idx];
                    }
                }
            }
        }
        acc
    }
}

/// Intersection over union of two axis-aligned boxes given by their corners (mm); 0 when
/// either is empty.
pub fn box_iou(a_lo: Vec3, a_hi: Vec3, b_lo: Vec3, b_hi: Vec3) -> f64 {
    let vol = |lo: Vec3, hi: Vec3| (0..3).map(|d| (hi[d] - lo[d]).max(0.0)).product::<f64>();
    let inter = (0..3).map(|d| (a_hi[d].min(b_hi[d]) - a_lo[d].max(b_lo[d])).max(0.0)).product::<f64>();
    let union = vol(a_lo, a_hi) + vol(b_lo, b_hi) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_reads_voxel_centres_and_midpoints() {
        let data = Array3::from_shape_fn((2, 2, 3), |(k, j, i)| (100 * k + 10 * j + i) as f32);
        let v = Volume::new(
            data,
            Affine::new([0.0; 3], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
            SourceGrid::Same,
        )
        .unwrap();
        assert_eq!(v.dims(), [3, 2, 2]);
        assert_eq!(v.sample([2.0, 1.0, 1.0]), 112.0);
        assert_eq!(v.sample([0.5, 0.5, 0.5]), 55.5);
        assert_eq!(v.sample([3.5, 0.0, 0.0]), AIR_HU);
    }
}
