//! Synthetic DICOM series written with dicom-rs; expected values come from the geometry
//! and the pixel values used to write them.

mod common;

use std::path::Path;

use common::*;
use ichscan_geometry::SourceGrid;
use ichscan_load::{ErrorKind, LoadOptions};

/// HU written at slice k (in true anatomical order), row j, column i.
fn truth(k: usize, j: usize, i: usize) -> f32 {
    100.0 * k as f32 + 3.0 * j as f32 + i as f32 - 500.0
}

fn slice_with_truth(series: &str, k: usize, rows: u16, cols: u16, intercept: f64) -> Slice {
    let mut s = Slice::new(series, k, rows, cols);
    s.intercept = intercept;
    s.stored = (0..rows as usize)
        .flat_map(|j| (0..cols as usize).map(move |i| (truth(k, j, i) as f64 - intercept) as i32))
        .collect();
    s
}

/// Writes `n` axial slices 2.5 mm apart from z = 10, in shuffled file order, with
/// instance numbers running backwards; returns the slices as written.
fn write_plain_series(dir: &Path, series: &str, n: usize) -> Vec<Slice> {
    let mut out = Vec::new();
    for (file_idx, k) in shuffled(n).into_iter().enumerate() {
        let mut s = slice_with_truth(series, k, 6, 8, -1024.0);
        s.ipp = [-3.0, 4.0, 10.0 + 2.5 * k as f64];
        s.pixel_spacing = [0.6, 0.5];
        s.instance = (n - k) as i32;
        s.write(&dir.join(format!("f{file_idx:03}.dcm")));
        out.push(s);
    }
    out
}

#[test]
fn shuffled_files_sort_by_position_not_instance_or_name() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.1", 10);
    let scan = load(dir.path()).unwrap();
    let v = &scan.volume;
    assert_eq!(v.dims(), [8, 6, 10]);
    let sp = v.spacing();
    assert!((sp[0] - 0.5).abs() < 1e-9 && (sp[1] - 0.6).abs() < 1e-9 && (sp[2] - 2.5).abs() < 1e-9, "{sp:?}");
    assert_eq!(v.affine.origin, [-3.0, 4.0, 10.0]);
    assert_eq!(v.source, SourceGrid::Same);
    for ((k, j, i), hu) in v.data.indexed_iter() {
        assert_eq!(*hu, truth(k, j, i), "voxel {i},{j},{k}");
    }
    let s = &scan.series[0];
    assert_eq!((s.n_slices, s.slice_spacing_uniform, s.gantry_tilt_deg), (10, true, 0.0));
    assert!(s.selected);
}

#[test]
fn gantry_tilt_is_reported_and_corrected() {
    // Slices tilted 20 degrees about the row (x) axis; the table moves 3 mm along z per slice.
    let dir = tempfile::tempdir().unwrap();
    let th = 20f64.to_radians();
    let (rows, cols, n) = (40u16, 40u16, 9usize);
    let field = |p: [f64; 3]| 2.0 * p[0] + 3.0 * p[1] + 1.5 * p[2];
    for k in 0..n {
        let mut s = Slice::new("1.2.3.2", k, rows, cols);
        s.iop = [1.0, 0.0, 0.0, 0.0, th.cos(), -th.sin()];
        s.ipp = [-10.0, -10.0, 3.0 * k as f64];
        s.pixel_spacing = [0.5, 0.5];
        s.stored = (0..rows as usize)
            .flat_map(|j| {
                (0..cols as usize).map(move |i| {
                    let p = [
                        -10.0 + 0.5 * i as f64,
                        -10.0 + 0.5 * j as f64 * th.cos(),
                        3.0 * k as f64 - 0.5 * j as f64 * th.sin(),
                    ];
                    field(p).round() as i32
                })
            })
            .collect();
        s.write(&dir.path().join(format!("{k}.dcm")));
    }
    let scan = load(dir.path()).unwrap();
    let s = &scan.series[0];
    assert!((s.gantry_tilt_deg - 20.0).abs() < 0.01, "{}", s.gantry_tilt_deg);
    assert!(s.slice_spacing_uniform);
    let v = &scan.volume;
    // Corrected grid: axis-aligned (i along x, j along y, k along z), table step 3 mm.
    assert_eq!(v.affine.orientation_code(), "LPS");
    let [a, b, c] = v.affine.axes;
    assert!((a[0] - 0.5).abs() < 1e-9 && (b[1] - 0.5).abs() < 1e-9 && (c[2] - 3.0).abs() < 1e-9, "{:?}", v.affine);
    assert!(a[1].abs() + a[2].abs() + b[0].abs() + b[2].abs() + c[0].abs() + c[1].abs() < 1e-9);
    assert_eq!(v.dims(), [40, 40, 9]);
    assert!(matches!(v.source, SourceGrid::Stack(_)));
    // Where a voxel's patient point lies well inside the scanned slab, it reads the field
    // there (rounding of stored values: 0.5 HU; interpolation of a linear field is exact).
    let mut checked = 0;
    for ((k, j, i), hu) in v.data.indexed_iter() {
        let p = v.voxel_to_patient([i as f64, j as f64, k as f64]);
        let src = v.patient_to_source_voxel(p);
        let margin = 4.0;
        if src[0] > margin
            && src[1] > margin
            && src[0] < cols as f64 - 1.0 - margin
            && src[1] < rows as f64 - 1.0 - margin
            && src[2] >= 0.0
            && src[2] <= (n - 1) as f64
        {
            assert!((*hu as f64 - field(p)).abs() <= 1.0, "voxel {i},{j},{k}: {hu} vs {}", field(p));
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn padding_and_out_of_field_are_air_signed_and_unsigned() {
    // (signed, BitsStored, intercept, padding value, an out-of-field value below air)
    for (signed, bits, intercept, pad, oof) in [(true, 16u16, -1024.0, -2000, -1500), (false, 12, -2048.0, 0, 500)] {
        let dir = tempfile::tempdir().unwrap();
        for k in 0..3 {
            let mut s = Slice::new("1.2.3.3", k, 2, 3);
            s.signed = signed;
            s.bits_stored = bits;
            s.intercept = intercept;
            s.padding = Some(pad);
            // padding, out of field (below air after rescale), water, blood, bone
            let w = -intercept as i32;
            s.stored = vec![pad, oof, w, w + 60, w + 1500, w + 40];
            s.write(&dir.path().join(format!("{k}.dcm")));
        }
        let scan = load(dir.path()).unwrap();
        let row: Vec<f32> = scan.volume.data.iter().take(6).copied().collect();
        assert_eq!(row, vec![-1024.0, -1024.0, 0.0, 60.0, 1500.0, 40.0], "signed={signed}");
    }
}

#[test]
fn monochrome1_gives_the_same_hu() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..3 {
        let mut s = slice_with_truth("1.2.3.4", k, 4, 4, -1024.0);
        s.photometric = "MONOCHROME1".into();
        s.write(&dir.path().join(format!("{k}.dcm")));
    }
    let scan = load(dir.path()).unwrap();
    for ((k, j, i), hu) in scan.volume.data.indexed_iter() {
        assert_eq!(*hu, truth(k, j, i));
    }
}

#[test]
fn implicit_little_endian_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..3 {
        let mut s = slice_with_truth("1.2.3.5", k, 4, 5, -1024.0);
        s.ts = IMPLICIT_LE.into();
        s.write(&dir.path().join(format!("{k}.dcm")));
    }
    let scan = load(dir.path()).unwrap();
    for ((k, j, i), hu) in scan.volume.data.indexed_iter() {
        assert_eq!(*hu, truth(k, j, i));
    }
}

#[test]
fn a_missing_slice_is_reported_and_filled() {
    let dir = tempfile::tempdir().unwrap();
    let n = 10;
    write_plain_series(dir.path(), "1.2.3.6", n);
    // Remove the file holding slice k = 4 (file index where shuffled(n)[idx] == 4).
    let idx = shuffled(n).iter().position(|k| *k == 4).unwrap();
    std::fs::remove_file(dir.path().join(format!("f{idx:03}.dcm"))).unwrap();
    let scan = load(dir.path()).unwrap();
    let s = &scan.series[0];
    assert_eq!((s.n_slices, s.missing_slices, s.slice_spacing_uniform), (9, 1, false));
    assert!(scan.notes.iter().any(|n| n.contains("missing")), "{:?}", scan.notes);
    // Regridded at 2.5 mm over the full 22.5 mm: 10 planes; plane 4 is the mean of 3 and 5.
    let v = &scan.volume;
    assert_eq!(v.dims(), [8, 6, 10]);
    assert!((v.spacing()[2] - 2.5).abs() < 1e-9);
    for j in 0..6 {
        for i in 0..8 {
            assert!((v.data[[4, j, i]] - (truth(3, j, i) + truth(5, j, i)) / 2.0).abs() < 1e-3);
            assert!((v.data[[7, j, i]] - truth(7, j, i)).abs() < 1e-3);
        }
    }
}

#[test]
fn a_duplicate_file_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_plain_series(dir.path(), "1.2.3.7", 10);
    slices[3].write(&dir.path().join("copy_of_one.dcm"));
    let scan = load(dir.path()).unwrap();
    let s = &scan.series[0];
    assert_eq!((s.n_slices, s.duplicate_slices), (10, 1));
    assert_eq!(scan.volume.dims()[2], 10);
    assert!(scan.notes.iter().any(|n| n.contains("duplicate")));
}

#[test]
fn a_localizer_in_the_series_is_split_off_and_not_chosen() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.8", 10);
    let mut loc = Slice::new("1.2.3.8", 99, 6, 8);
    loc.image_type = "ORIGINAL\\PRIMARY\\LOCALIZER".into();
    loc.iop = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0];
    loc.ipp = [-100.0, 0.0, 100.0];
    loc.write(&dir.path().join("scout.dcm"));
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series.len(), 2);
    let chosen = &scan.series[scan.selected];
    assert_eq!((chosen.series_uid.as_str(), chosen.n_slices), ("1.2.3.8", 10));
    let other = scan.series.iter().find(|s| !s.selected).unwrap();
    assert_eq!(other.series_uid, "1.2.3.8#2");
    assert!(other.localizer && other.orientation == "coronal");
    assert!(other.reason.contains("not a localizer"), "{}", other.reason);
}

/// Two or more series in one folder: the choice follows the documented order of criteria.
#[test]
fn series_choice_follows_the_criteria() {
    let write = |dir: &Path, uid: &str, n: usize, step: f64, kernel: &str, contrast: bool| {
        for k in 0..n {
            let mut s = Slice::new(uid, k, 4, 4);
            s.ipp = [0.0, 0.0, step * k as f64];
            s.kernel = Some(kernel.to_string());
            s.contrast = contrast.then(|| "IOHEXOL".to_string());
            s.write(&dir.join(format!("{uid}_{k}.dcm")));
        }
    };
    // Soft kernel beats bone kernel at equal coverage and thickness.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "9.1", 30, 5.0, "BONE", false);
    write(dir.path(), "9.2", 30, 5.0, "STANDARD", false);
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series[scan.selected].series_uid, "9.2");
    let loser = scan.series.iter().find(|s| s.series_uid == "9.1").unwrap();
    assert!(loser.reason.contains("soft-tissue kernel"), "{}", loser.reason);
    // No contrast beats contrast.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "9.3", 30, 5.0, "STANDARD", true);
    write(dir.path(), "9.4", 30, 5.0, "STANDARD", false);
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series[scan.selected].series_uid, "9.4");
    // Thinner beats thicker at equal coverage (150 mm either way).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "9.5", 31, 5.0, "STANDARD", false);
    write(dir.path(), "9.6", 61, 2.5, "STANDARD", false);
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series[scan.selected].series_uid, "9.6");
    // Coverage beats thinness: 20 thin slices over 19 mm lose to a whole head at 5 mm.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "9.7", 20, 1.0, "STANDARD", false);
    write(dir.path(), "9.8", 31, 5.0, "STANDARD", false);
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series[scan.selected].series_uid, "9.8");
    // --series overrides.
    let scan =
        ichscan_load::load(dir.path(), &LoadOptions { series: Some("9.7".into()), ..Default::default() }).unwrap();
    assert_eq!(scan.series[scan.selected].series_uid, "9.7");
    assert_eq!(scan.volume.dims()[2], 20);
    let err =
        ichscan_load::load(dir.path(), &LoadOptions { series: Some("9.9".into()), ..Default::default() }).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::NoSuchSeries(..)), "{err}");
}

#[test]
fn enhanced_multiframe_ct_equals_the_classic_series() {
    let classic = tempfile::tempdir().unwrap();
    let slices = write_plain_series(classic.path(), "1.2.3.9", 10);
    let enhanced = tempfile::tempdir().unwrap();
    // Frames in file order = the shuffled order, so sorting is exercised too.
    write_enhanced(&slices, &enhanced.path().join("enhanced.dcm"));
    let a = load(classic.path()).unwrap();
    let b = load(enhanced.path()).unwrap();
    assert_eq!(a.volume.data, b.volume.data);
    assert_eq!(a.volume.affine, b.volume.affine);
    assert_eq!(b.series[0].n_slices, 10);
}

#[test]
fn zip_of_a_folder_equals_the_folder() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.10", 10);
    std::fs::write(dir.path().join("README.txt"), "not dicom").unwrap();
    let zpath = dir.path().join("scan.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "zip") {
                continue;
            }
            z.start_file(
                format!("study/{}", p.file_name().unwrap().to_string_lossy()),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(&std::fs::read(&p).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }
    let zipped = load(&zpath).unwrap();
    std::fs::remove_file(&zpath).unwrap();
    let plain = load(dir.path()).unwrap();
    assert_eq!(zipped.volume.data, plain.volume.data);
    assert_eq!(zipped.volume.affine, plain.volume.affine);
    assert!(plain.notes.iter().any(|n| n.contains("non-DICOM") && n.contains("README.txt")), "{:?}", plain.notes);
}

#[test]
fn hidden_files_and_non_dicom_are_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.11", 10);
    std::fs::write(dir.path().join(".DS_Store"), [0u8; 10]).unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git").join("x.dcm"), b"junk").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    write_dicomdir(&dir.path().join("DICOMDIR"));
    let scan = load(dir.path()).unwrap();
    assert_eq!(scan.series[0].n_slices, 10);
    assert!(scan.notes.iter().any(|n| n.contains("DICOMDIR") && n.contains("skipped")), "{:?}", scan.notes);
    assert!(scan.notes.iter().any(|n| n.contains("notes.txt")), "{:?}", scan.notes);
    assert!(scan.notes.iter().any(|n| n.contains("hidden")), "{:?}", scan.notes);
}

/// A media directory index (DICOMDIR storage class), which holds no image.
fn write_dicomdir(path: &Path) {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let mut o = dicom_object::InMemDicomObject::new_empty();
    o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.1.3.10")));
    o.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.3.99")));
    o.with_meta(dicom_object::meta::FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_LE))
        .unwrap()
        .write_to_file(path)
        .unwrap();
}

// ---- bad input: one clear error naming the file, never a panic ----

fn err_of(path: &Path) -> ichscan_load::LoadError {
    load(path).expect_err("should fail")
}

#[test]
fn empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let e = err_of(dir.path());
    assert!(matches!(e.kind, ErrorKind::Empty));
    assert!(e.to_string().starts_with(&dir.path().display().to_string()));
}

#[test]
fn folder_of_non_dicom_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    assert!(matches!(err_of(dir.path()).kind, ErrorKind::Empty));
}

#[test]
fn truncated_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.12", 10);
    let victim = dir.path().join("f004.dcm");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 40]).unwrap();
    let e = err_of(dir.path());
    assert!(e.path.ends_with("f004.dcm"), "{e}");
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn corrupt_header_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_plain_series(dir.path(), "1.2.3.13", 10);
    let victim = dir.path().join("f002.dcm");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.truncate(300);
    for b in bytes.iter_mut().skip(200) {
        *b = 0xFF;
    }
    std::fs::write(&victim, &bytes).unwrap();
    let e = err_of(dir.path());
    assert!(e.path.ends_with("f002.dcm"), "{e}");
}

#[test]
fn non_ct_modality() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..3 {
        let mut s = Slice::new("1.2.3.14", k, 4, 4);
        s.modality = "MR".into();
        s.write(&dir.path().join(format!("{k}.dcm")));
    }
    let e = err_of(dir.path());
    assert!(matches!(e.kind, ErrorKind::NoCt(_)), "{e}");
    assert!(e.to_string().contains("MR"));
}

#[test]
fn single_slice_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let s = slice_with_truth("1.2.3.15", 0, 4, 4, -1024.0);
    let f = dir.path().join("one.dcm");
    s.write(&f);
    assert!(matches!(err_of(&f).kind, ErrorKind::SingleSlice));
    let scan = ichscan_load::load(&f, &LoadOptions { allow_single_slice: true, ..Default::default() }).unwrap();
    assert_eq!(scan.volume.dims(), [4, 4, 1]);
    // The slice thickness (1 mm, as written) is the k spacing.
    assert!((scan.volume.spacing()[2] - 1.0).abs() < 1e-9);
}

#[test]
fn mixed_sizes_in_one_series() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..6 {
        let (r, c) = if k < 4 { (8, 8) } else { (4, 4) };
        Slice::new("1.2.3.16", k, r, c).write(&dir.path().join(format!("{k}.dcm")));
    }
    let e = err_of(dir.path());
    assert!(matches!(e.kind, ErrorKind::MixedSizes(_)), "{e}");
    // Choosing a part explicitly works.
    let scan = ichscan_load::load(dir.path(), &LoadOptions { series: Some("1.2.3.16#2".into()), ..Default::default() })
        .unwrap();
    assert_eq!(scan.volume.dims(), [4, 4, 2]);
}

#[test]
fn missing_pixel_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..3 {
        let mut s = Slice::new("1.2.3.17", k, 4, 4);
        s.no_pixels = k == 1;
        s.write(&dir.path().join(format!("{k}.dcm")));
    }
    let e = err_of(dir.path());
    assert!(e.path.ends_with("1.dcm"), "{e}");
    assert!(e.to_string().to_lowercase().contains("pixel"), "{e}");
}

#[test]
fn nonexistent_path() {
    let e = err_of(Path::new("/no/such/scan"));
    assert!(matches!(e.kind, ErrorKind::Io(_)));
}
