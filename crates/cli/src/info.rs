//! `ichscan info`: what is in a scan and how ichscan reads it.

use std::path::PathBuf;

use ichscan_load::{LoadOptions, Scan};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// DICOM folder, DICOM file, .zip, or NIfTI (.nii, .nii.gz).
    pub input: PathBuf,
    /// Print JSON (schema in the README) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Load this series instead of the best one (a series_uid as listed).
    #[arg(long)]
    pub series: Option<String>,
    /// Accept a single slice (2D work) instead of refusing it.
    #[arg(long)]
    pub allow_single_slice: bool,
}

/// The `info --json` document.
#[derive(Serialize)]
pub struct InfoJson<'a> {
    pub input: String,
    pub format: &'a str,
    pub series: &'a [ichscan_load::SeriesSummary],
    pub volume: VolumeJson,
    pub notes: &'a [String],
}

#[derive(Serialize)]
pub struct VolumeJson {
    /// [columns, rows, slices]
    pub dims: [usize; 3],
    /// mm per voxel along [i, j, k], after any tilt or spacing correction.
    pub spacing_mm: [f64; 3],
    /// Where increasing i, j, k point (letters of L/R, P/A, S/I).
    pub orientation: String,
    /// Voxel -> patient LPS mm: origin and the step vector of each index.
    pub affine: ichscan_geometry::Affine,
    /// True when the slices were interpolated onto a new grid (tilt, uneven spacing).
    pub resampled: bool,
    pub hu_min: f32,
    pub hu_max: f32,
}

pub fn describe(scan: &Scan, input: &std::path::Path) -> (VolumeJson, String) {
    let v = &scan.volume;
    let (hu_min, hu_max) = v.hu_range();
    let vol = VolumeJson {
        dims: v.dims(),
        spacing_mm: v.spacing(),
        orientation: v.affine.orientation_code(),
        affine: v.affine,
        resampled: !matches!(v.source, ichscan_geometry::SourceGrid::Same),
        hu_min,
        hu_max,
    };
    (vol, input.display().to_string())
}

pub fn run(a: Args) -> Result<u8, ichscan_load::LoadError> {
    let opts = LoadOptions { series: a.series.clone(), allow_single_slice: a.allow_single_slice };
    let scan = ichscan_load::load(&a.input, &opts)?;
    let (volume, input) = describe(&scan, &a.input);
    if a.json {
        let doc = InfoJson { input, format: scan.format, series: &scan.series, volume, notes: &scan.notes };
        println!("{}", serde_json::to_string_pretty(&doc).expect("plain data serialises"));
        return Ok(crate::EXIT_OK);
    }
    println!("Input: {input} ({}, {} series)", scan.format, scan.series.len());
    for s in &scan.series {
        let mark = if s.selected { "*" } else { " " };
        println!(
            "{mark} {} \"{}\": {} {}, {} slice(s) of {}x{}, tilt {:.2} deg, spacing {}",
            s.series_uid,
            s.description,
            s.modality,
            s.orientation,
            s.n_slices,
            s.columns,
            s.rows,
            s.gantry_tilt_deg,
            if s.slice_spacing_uniform { "uniform" } else { "uneven" }
        );
        println!("    {}", s.reason);
    }
    let v = &volume;
    println!(
        "Volume: {} x {} x {} voxels, spacing {:.3} x {:.3} x {:.3} mm, axes {}{}",
        v.dims[0],
        v.dims[1],
        v.dims[2],
        v.spacing_mm[0],
        v.spacing_mm[1],
        v.spacing_mm[2],
        v.orientation,
        if v.resampled { " (resampled)" } else { "" }
    );
    println!("HU range: {:.0} .. {:.0}", v.hu_min, v.hu_max);
    for n in &scan.notes {
        println!("note: {n}");
    }
    Ok(crate::EXIT_OK)
}
