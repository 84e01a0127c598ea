//! NIfTI-1 (.nii, .nii.gz) to a volume in LPS.
//!
//! The voxel-to-world transform is taken from the sform when its code is set, else from
//! the qform, else (code 0 for both) from pixdim alone with a note; each is checked
//! (finite, non-singular, positive pixdim) before use. NIfTI world space is RAS, so x and
//! y are negated to reach DICOM's LPS. Intensities are taken as HU after scl_slope/inter.

use std::path::Path;

use ichscan_geometry::{Affine, SourceGrid, Vec3, Volume, AIR_HU};
use ndarray::{Array3, Axis, Ix3};
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions};

use crate::error::{ErrorKind, LoadError, Result};

/// The loaded volume and the notes worth telling the user.
pub struct NiftiScan {
    pub volume: Volume,
    pub notes: Vec<String>,
    /// Which transform was used: "sform", "qform" or "pixdim".
    pub transform: &'static str,
}

pub fn load(path: &Path) -> Result<NiftiScan> {
    let name = path.display().to_string();
    let bad = |m: String| LoadError::new(&name, ErrorKind::Nifti(m));
    // Read and check the header before the voxels: a bad header must not reach the
    // volume reader, and the reader must not take the process down.
    let header = catch(|| NiftiHeader::from_file(path)).map_err(&bad)?.map_err(|e| bad(e.to_string()))?;
    let mut notes = Vec::new();
    let (affine, transform) = header_affine(&header, &mut notes).map_err(&bad)?;
    let obj = catch(|| ReaderOptions::new().read_file(path)).map_err(&bad)?.map_err(|e| bad(e.to_string()))?;
    let arr = catch(move || obj.into_volume().into_ndarray::<f32>()).map_err(&bad)?.map_err(|e| bad(e.to_string()))?;
    let arr = match arr.ndim() {
        3 => arr,
        4 | 5 if arr.shape()[3..].iter().all(|&n| n >= 1) => {
            if arr.shape()[3..].iter().product::<usize>() > 1 {
                notes.push(format!("{name}: {}-D image, using its first volume", arr.ndim()));
            }
            let mut a = arr;
            while a.ndim() > 3 {
                a = a.index_axis_move(Axis(3), 0);
            }
            a
        }
        d => return Err(bad(format!("{d}-D image; a CT volume has 3 dimensions"))),
    };
    let arr = arr.into_dimensionality::<Ix3>().map_err(|e| bad(e.to_string()))?;
    // nifti gives [i, j, k]; ichscan keeps [k, j, i] with i contiguous.
    let data: Array3<f32> =
        arr.permuted_axes([2, 1, 0]).as_standard_layout().mapv(|v| if v.is_nan() || v < AIR_HU { AIR_HU } else { v });
    let volume = Volume::new(data, affine, SourceGrid::Same).map_err(|e| bad(e.to_string()))?;
    Ok(NiftiScan { volume, notes, transform })
}

fn catch<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| "the NIfTI reader failed on this file".to_string())
}

/// RAS -> LPS: negate x and y.
fn ras_to_lps(v: Vec3) -> Vec3 {
    [-v[0], -v[1], v[2]]
}

/// Voxel-to-LPS affine from the header, checked.
pub fn header_affine(h: &NiftiHeader, notes: &mut Vec<String>) -> std::result::Result<(Affine, &'static str), String> {
    let ndim = h.dim[0];
    if !(3..=7).contains(&ndim) {
        return Err(format!("dim[0] = {ndim}; a CT volume needs 3"));
    }
    for d in 1..=3 {
        if h.dim[d] == 0 {
            return Err(format!("dim[{d}] = 0"));
        }
        let p = h.pixdim[d];
        if !(p.is_finite() && p > 0.0) {
            return Err(format!("pixdim[{d}] = {p}; voxel sizes must be positive numbers"));
        }
    }
    let affine = if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        if rows.iter().flatten().any(|v| !v.is_finite()) {
            return Err("sform has non-finite values".into());
        }
        let col = |c: usize| ras_to_lps([rows[0][c] as f64, rows[1][c] as f64, rows[2][c] as f64]);
        (Affine::new(col(3), [col(0), col(1), col(2)]), "sform")
    } else if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        if ![b, c, d].iter().all(|v| v.is_finite()) {
            return Err("qform quaternion has non-finite values".into());
        }
        let s = b * b + c * c + d * d;
        if s > 1.0 + 1e-6 {
            return Err(format!("qform quaternion (b, c, d) has norm {:.4} > 1", s.sqrt()));
        }
        let a = (1.0 - s).max(0.0).sqrt();
        let r = [
            [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
            [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
            [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let px = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64 * qfac];
        let col = |j: usize| ras_to_lps([r[0][j] * px[j], r[1][j] * px[j], r[2][j] * px[j]]);
        let off = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
        if !off.iter().all(|v| v.is_finite()) {
            return Err("qform offset has non-finite values".into());
        }
        (Affine::new(ras_to_lps(off), [col(0), col(1), col(2)]), "qform")
    } else {
        notes.push(
            "NIfTI has neither sform nor qform: orientation unknown, assuming RAS axes with pixdim spacing".into(),
        );
        let px = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64];
        (
            Affine::new([0.0; 3], [ras_to_lps([px[0], 0.0, 0.0]), ras_to_lps([0.0, px[1], 0.0]), [0.0, 0.0, px[2]]]),
            "pixdim",
        )
    };
    let det = affine.0.determinant();
    if !det.is_finite() || det.abs() < 1e-9 {
        return Err(format!("{} is singular (determinant {det:e})", affine.1));
    }
    Ok(affine)
}
