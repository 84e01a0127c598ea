//! # ichscan-load
//!
//! The first step of the pipeline: a head CT from disk into an
//! [`ichscan_geometry::Volume`] of Hounsfield units with exact patient geometry.
//!
//! Inputs: a folder of DICOM files (searched recursively; non-DICOM files, DICOMDIR and
//! hidden files are skipped with a note), a single DICOM file, a `.zip` of either, or a
//! NIfTI-1 file (`.nii`, `.nii.gz`).
//!
//! DICOM handling, in order: read every header ([`dicom::header`]), group frames by
//! series and split a series whose orientation or size changes ([`dicom::series`]),
//! choose the series to analyse and say why, sort slices along the plane normal, drop
//! duplicates, decode pixels to HU in parallel ([`dicom::pixels`]), and put tilted or
//! unevenly spaced stacks onto a regular grid ([`ichscan_geometry::PlaneStack`]).
//!
//! Every error is a [`LoadError`]: the file and the problem, on one line.

pub mod dicom;
pub mod error;
pub mod input;
pub mod nifti_io;
pub mod write;

use std::path::Path;

use ichscan_geometry::Volume;

pub use dicom::series::SeriesSummary;
pub use error::{ErrorKind, LoadError, Result};

/// Choices the user can make about loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Load this series (a SeriesInstanceUID as `info` lists it) instead of the best one.
    pub series: Option<String>,
    /// Accept a one-slice series (2D slice work, e.g. RSNA slices); otherwise an error.
    pub allow_single_slice: bool,
}

/// A loaded scan: the volume, every series that was found and the one chosen.
#[derive(Debug, Clone)]
pub struct Scan {
    pub volume: Volume,
    /// "dicom" or "nifti".
    pub format: &'static str,
    pub series: Vec<SeriesSummary>,
    /// Index of the loaded series in `series`.
    pub selected: usize,
    /// Things the user should know (skipped files, corrections made).
    pub notes: Vec<String>,
    /// DICOM only: the loaded series' slices as stored (sorted along the normal), with
    /// each slice's SOPInstanceUID, so per-slice labels (RSNA, BHX) can be placed.
    pub source_slices: Option<SourceSlices>,
}

/// The input slices of a DICOM series, in sorted order.
#[derive(Debug, Clone)]
pub struct SourceSlices {
    pub stack: ichscan_geometry::PlaneStack,
    /// SOPInstanceUID of each slice (and `#frame` for enhanced CT frames after the first).
    pub sop_uids: Vec<String>,
}

/// Loads the scan at `input` (see the crate docs for what it accepts).
pub fn load(input: &Path, opts: &LoadOptions) -> Result<Scan> {
    let where_ = input.display().to_string();
    let listing = input::list(input)?;
    // A lone NIfTI file (or a folder holding exactly one and no DICOM) is a NIfTI scan.
    let niftis: Vec<_> = listing.files.iter().filter(|s| s.is_nifti()).collect();
    if niftis.len() == 1 && listing.files.len() == 1 {
        if let input::Source::Disk(p) = niftis[0] {
            return load_nifti(p);
        }
    }
    dicom::load(listing, opts, &where_)
}

fn load_nifti(path: &Path) -> Result<Scan> {
    let n = nifti_io::load(path)?;
    let v = &n.volume;
    let dirs = v.affine.directions();
    let normal = ichscan_geometry::affine::cross(dirs[0], dirs[1]);
    let cos = ichscan_geometry::affine::dot(normal, dirs[2]).abs().clamp(0.0, 1.0);
    let a = [normal[0].abs(), normal[1].abs(), normal[2].abs()];
    let orientation = if a[2] >= a[0] && a[2] >= a[1] {
        "axial"
    } else if a[1] >= a[0] {
        "coronal"
    } else {
        "sagittal"
    };
    let summary = SeriesSummary {
        series_uid: path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        description: format!("NIfTI-1 ({})", n.transform),
        modality: "CT".into(),
        n_slices: v.dims()[2],
        rows: v.dims()[1],
        columns: v.dims()[0],
        orientation: orientation.into(),
        localizer: false,
        slice_thickness_mm: None,
        slice_step_mm: Some(v.spacing()[2]),
        extent_mm: v.spacing()[2] * (v.dims()[2].saturating_sub(1)) as f64,
        kernel: String::new(),
        kernel_class: "unknown".into(),
        contrast: false,
        gantry_tilt_deg: cos.acos().to_degrees(),
        slice_spacing_uniform: true,
        missing_slices: 0,
        duplicate_slices: 0,
        transfer_syntax: String::new(),
        selected: true,
        reason: "the only image in the input".into(),
    };
    Ok(Scan {
        volume: n.volume,
        format: "nifti",
        series: vec![summary],
        selected: 0,
        notes: n.notes,
        source_slices: None,
    })
}
