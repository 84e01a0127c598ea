//! Compressed transfer syntaxes, on fixtures made by `fixtures/make_fixtures.py` with
//! reference encoders (pydicom RLE, OpenJPEG, libjpeg, CharLS). The expected values are
//! the script's formulas, recomputed here.

use std::path::{Path, PathBuf};

use ichscan_load::{ErrorKind, LoadOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load_one(name: &str) -> Result<ichscan_load::Scan, ichscan_load::LoadError> {
    ichscan_load::load(&fixture(name), &LoadOptions { allow_single_slice: true, ..Default::default() })
}

/// stored(j, i) = 30 i - 20 j + 100 with intercept -1024; below -1024 HU is air.
fn expected16(j: usize, i: usize) -> f32 {
    let hu = 30.0 * i as f32 - 20.0 * j as f32 + 100.0 - 1024.0;
    hu.max(-1024.0)
}

fn check_lossless(name: &str) {
    let scan = load_one(name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scan.volume.dims(), [32, 32, 1]);
    for ((_, j, i), hu) in scan.volume.data.indexed_iter() {
        assert_eq!(*hu, expected16(j, i), "{name} at row {j} col {i}");
    }
}

#[test]
fn rle_lossless() {
    check_lossless("rle_lossless.dcm");
}

#[test]
fn jpeg2000_lossless() {
    check_lossless("j2k_lossless.dcm");
}

#[test]
fn jpeg_baseline_8bit_within_lossy_error() {
    let scan = load_one("jpeg_baseline.dcm").unwrap_or_else(|e| panic!("{e}"));
    // stored(j, i) = 4 i + 2 j, intercept -100; JPEG at quality 95 on a smooth ramp is
    // off by a few grey levels at most.
    let mut worst = 0.0f32;
    for ((_, j, i), hu) in scan.volume.data.indexed_iter() {
        let want = 4.0 * i as f32 + 2.0 * j as f32 - 100.0;
        worst = worst.max((hu - want).abs());
    }
    assert!(worst <= 4.0, "max error {worst}");
}

#[test]
fn jpeg_ls_is_a_clear_unsupported_error() {
    let e = load_one("jpegls_lossless.dcm").unwrap_err();
    match &e.kind {
        ErrorKind::UnsupportedTransferSyntax { uid, .. } => {
            assert_eq!(uid, "1.2.840.10008.1.2.4.80")
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.path.ends_with("jpegls_lossless.dcm"));
    assert!(!e.to_string().contains('\n'));
}
