//! The real scans in ../shared/data (skipped, saying so, when absent). Expected values
//! come from the files' own headers (read with pydicom/nibabel when these tests were
//! written, numbers quoted below) and from CT physics, never from ichscan's output.

mod common;

use std::path::{Path, PathBuf};

use common::shared_data;
use ichscan_geometry::SourceGrid;
use ichscan_load::dicom::{header, pixels};
use ichscan_load::input::Source;
use ichscan_load::{LoadOptions, Scan};

fn load(p: &Path) -> Scan {
    ichscan_load::load(p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn cq500(d: &Path) -> PathBuf {
    d.join("cq500/CQ500CT0 CQ500CT0")
}

/// The most frequent HU (1 HU bins) among voxels in [lo, hi).
fn mode_in(scan: &Scan, lo: f32, hi: f32) -> f32 {
    let mut hist = vec![0usize; (hi - lo) as usize];
    for v in scan.volume.data.iter() {
        if *v >= lo && *v < hi {
            hist[(*v - lo) as usize] += 1;
        }
    }
    let (i, _) = hist.iter().enumerate().max_by_key(|(_, c)| **c).unwrap();
    lo + i as f32
}

#[test]
fn cq500_jpeg_lossless_whole_head() {
    let Some(d) = shared_data() else { return };
    let scan = load(&cq500(&d));
    assert_eq!(scan.series.len(), 1);
    let s = &scan.series[0];
    assert_eq!((s.n_slices, s.rows, s.columns), (238, 512, 512));
    assert_eq!(s.transfer_syntax, "1.2.840.10008.1.2.4.70");
    // IOP column (0, 0.989016, -0.147809): tilt acos(0.989016) = 8.50 degrees.
    assert!((s.gantry_tilt_deg - 8.50).abs() < 0.02, "{}", s.gantry_tilt_deg);
    // Instance 237 is absent: z goes 133.975 -> 135.225 (two 0.625 mm steps) once.
    assert_eq!(s.missing_slices, 1);
    let v = &scan.volume;
    let sp = v.spacing();
    assert!((sp[0] - 0.443359).abs() < 1e-5 && (sp[1] - 0.443359).abs() < 1e-5, "{sp:?}");
    // Table increment 0.625 mm (z of ImagePositionPatient), after tilt correction.
    assert!((sp[2] - 0.625).abs() < 1e-3, "{sp:?}");
    // 238 slices spanning 239 positions (one missing, interpolated), 512 x 512.
    assert_eq!(v.dims(), [512, 512, 239]);
    assert_eq!(v.affine.orientation_code(), "LPS");
    // Lowest slice first: z from -12.9 (instance 1) upwards.
    assert!((v.affine.origin[2] - -12.9).abs() < 1e-6, "{:?}", v.affine.origin);
    // Air around the head is about -1000 HU; the commonest soft-tissue value is brain, 20..45.
    let air = mode_in(&scan, -1020.0, -900.0);
    assert!((-1020.0..=-970.0).contains(&air), "air mode {air}");
    let brain = mode_in(&scan, -20.0, 100.0);
    assert!((20.0..=45.0).contains(&brain), "brain mode {brain}");
    let (lo, hi) = v.hu_range();
    assert_eq!(lo, -1024.0);
    assert!(hi > 1000.0, "bone should exceed 1000 HU, max {hi}");
}

/// The JPEG Lossless decode matches a reference decoder pixel for pixel.
#[test]
fn cq500_pixels_match_reference_decoder() {
    let Some(d) = shared_data() else { return };
    let dir = cq500(&d).join("Unknown Study/CT 4cc sec 150cc D3D on");
    let src = Source::Disk(dir.join("CT000001.dcm"));
    let header::Parsed::Frames(frames) = header::parse(0, &src).unwrap() else { panic!("not an image") };
    let hu = pixels::decode_frames(&src, &[&frames[0]]).unwrap().remove(0);
    // pydicom 3.0 + pylibjpeg-libjpeg on this file, stored x 1 - 1024, at [row, col]:
    // [256,256] = -970, [100,300] = -1001, [300,200] = -960, max 395, min -3024 (padding).
    let at = |r: usize, c: usize| hu[r * 512 + c];
    assert_eq!((at(256, 256), at(100, 300), at(300, 200)), (-970.0, -1001.0, -960.0));
    assert_eq!(hu.iter().copied().fold(f32::MIN, f32::max), 395.0);
    assert_eq!(hu.iter().copied().fold(f32::MAX, f32::min), -1024.0);
}

#[test]
fn ge_tilt_and_uneven_spacing_give_a_uniform_grid() {
    let Some(d) = shared_data() else { return };
    let scan = load(&d.join("dcm_qa_ct/GE"));
    let s = &scan.series[0];
    // GantryDetectorTilt +18.5; IOP column (0, 0.9483237, -0.3173047).
    assert!((s.gantry_tilt_deg - 18.5).abs() < 0.05, "{}", s.gantry_tilt_deg);
    assert!(!s.slice_spacing_uniform);
    assert_eq!(s.n_slices, 28);
    // 4 mm then 7 mm protocols: a change of spacing, not missing slices.
    assert_eq!(s.missing_slices, 0);
    let v = &scan.volume;
    assert!(matches!(v.source, SourceGrid::Stack(_)));
    // z steps of ImagePositionPatient: 13 x 4.22, 1 x 1.14, 13 x 7.38: median 4.22 mm;
    // z runs 5.836 .. 157.776 = 151.94 mm -> floor(151.94 / 4.22) + 1 = 37 planes.
    let sp = v.spacing();
    assert!((sp[2] - 4.22).abs() < 1e-3, "{sp:?}");
    assert_eq!(v.dims(), [512, 512, 37]);
    // Orthogonal, axis-aligned grid.
    let [a, b, c] = v.affine.axes;
    let dot = |x: [f64; 3], y: [f64; 3]| x[0] * y[0] + x[1] * y[1] + x[2] * y[2];
    assert!(dot(a, b).abs() < 1e-9 && dot(a, c).abs() < 1e-9 && dot(b, c).abs() < 1e-9);
    assert_eq!(v.affine.orientation_code(), "LPS");
    assert!(scan.notes.iter().any(|n| n.contains("gantry tilt 18.50")), "{:?}", scan.notes);
}

#[test]
fn rsna_series_in_random_file_order_is_sorted_and_tilt_corrected() {
    let Some(d) = shared_data() else { return };
    let scan = load(&d.join("rsna/series-ID_fff502d5"));
    let s = &scan.series[0];
    // IOP column (0, 0.990268, -0.139173): 8.00 degrees.
    assert!((s.gantry_tilt_deg - 8.0).abs() < 0.02, "{}", s.gantry_tilt_deg);
    assert!(s.slice_spacing_uniform);
    let v = &scan.volume;
    assert_eq!(v.dims(), [512, 512, 36]);
    // Positions z from -20.603 to 156.120 in 5.049 mm steps (the files list them unordered).
    assert!((v.affine.origin[2] - -20.603).abs() < 1e-3, "{:?}", v.affine.origin);
    assert!((v.spacing()[2] - 5.049).abs() < 1e-3);
    assert!(matches!(v.source, SourceGrid::Stack(_)));
    // Brain tissue is present and is the commonest soft-tissue value.
    let brain = mode_in(&scan, -20.0, 100.0);
    assert!((20.0..=45.0).contains(&brain), "brain mode {brain}");
}

#[test]
fn nifti_loads_with_its_orientation() {
    let Some(d) = shared_data() else { return };
    let scan = load(&d.join("nifti/deepbleed-tmpfile.nii.gz"));
    let v = &scan.volume;
    assert_eq!(scan.format, "nifti");
    assert_eq!(v.dims(), [512, 512, 33]);
    // nibabel: sform (code 1) diag(-0.4609375, 0.4609375, 5), offset (117.769531, 115.730469, -943.5),
    // axis codes L, A, S. LPS negates the x and y rows.
    assert_eq!(v.affine.orientation_code(), "LAS");
    let o = v.affine.origin;
    assert!(
        (o[0] - -117.769531).abs() < 1e-4 && (o[1] - -115.730469).abs() < 1e-4 && (o[2] - -943.5).abs() < 1e-4,
        "{o:?}"
    );
    assert!((v.affine.axes[0][0] - 0.4609375).abs() < 1e-7 && (v.affine.axes[1][1] - -0.4609375).abs() < 1e-7);
    assert!((v.affine.axes[2][2] - 5.0).abs() < 1e-7);
    // nibabel get_fdata()[256, 256, 16] = 43, [100, 200, 10] = 0; range -66 .. 320.
    assert_eq!(v.data[[16, 256, 256]], 43.0);
    assert_eq!(v.data[[10, 200, 100]], 0.0);
    assert_eq!(v.hu_range(), (-66.0, 320.0));
}

#[test]
fn each_rsna_slice_loads_alone() {
    let Some(d) = shared_data() else { return };
    let opts = LoadOptions { allow_single_slice: true, ..Default::default() };
    let mut n = 0;
    for e in std::fs::read_dir(d.join("rsna/slices")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "dcm") {
            let scan = ichscan_load::load(&p, &opts).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scan.volume.dims()[2], 1, "{}", p.display());
            assert_eq!(scan.volume.dims()[..2], [512, 512]);
            n += 1;
        }
    }
    assert_eq!(n, 10);
    // The folder as a whole: ten single-slice series, refused as a 3D scan.
    let e = ichscan_load::load(&d.join("rsna/slices"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e.kind, ichscan_load::ErrorKind::SingleSlice), "{e}");
}

#[test]
fn cq500_single_slice_explicit_le() {
    let Some(d) = shared_data() else { return };
    let opts = LoadOptions { allow_single_slice: true, ..Default::default() };
    let scan = ichscan_load::load(&d.join("cq500/CQ500CT1 CQ500CT1"), &opts).unwrap();
    assert_eq!(scan.volume.dims(), [512, 512, 1]);
    assert_eq!(scan.series[0].transfer_syntax, "1.2.840.10008.1.2.1");
}
