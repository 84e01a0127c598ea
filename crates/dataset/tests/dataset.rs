//! Label formats on the real files (values checked by hand against the files, quoted in
//! comments) and on synthetic cases with known answers; the split.

use std::collections::HashMap;
use std::path::PathBuf;

use ichscan_dataset::labels::{self, Label, SliceRef};
use ichscan_dataset::planes;
use ichscan_dataset::split::{split, Split};
use ichscan_geometry::{Affine, SourceGrid, Volume};
use ichscan_slices::{default_planes, prepare, Plane};
use ndarray::Array3;

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/data is absent; real label files not tested");
        None
    }
}

const IVH: usize = 4;
const IPH: usize = 3;
const SAH: usize = 2;

#[test]
fn cq500_reads_majority() {
    let Some(d) = shared() else { return };
    let reads = labels::cq500_reads(&d.join("cq500/labels/reads.csv")).unwrap();
    // 491 data rows with distinct names (the CQ500 paper's 491 scans; shared/data's README says 490).
    assert_eq!(reads.len(), 491);
    // CQ500-CT-0: R1 ICH=1 (SAH=1), R2 and R3 all 0 -> no haemorrhage by majority.
    assert_eq!(reads["CQ500-CT-0"], Label::NONE);
    // CQ500-CT-1: ICH 3/3, IPH 3/3, SAH 3/3, IVH 1/3 (R2 only), SDH 0, EDH 0.
    let l = reads["CQ500-CT-1"];
    assert!(l.any);
    assert_eq!(l.types, [false, false, true, true, false]);
}

#[test]
fn rsna_slice_labels() {
    let Some(d) = shared() else { return };
    let r = labels::rsna_labels(&d.join("rsna/slices/labels.csv")).unwrap();
    assert_eq!(r.len(), 10);
    // The five positive slices of labels.csv and their types; the other five are negative.
    let want: HashMap<&str, Vec<usize>> = [
        ("ID_00f8c609e", vec![1]),
        ("ID_00a8f2691", vec![SAH]),
        ("ID_0a0e13868", vec![IVH]),
        ("ID_00f3d6436", vec![IPH]),
        ("ID_0a2ee809e", vec![IPH, IVH, 1]),
    ]
    .into_iter()
    .collect();
    for (sop, l) in &r {
        match want.get(sop.as_str()) {
            Some(types) => {
                assert!(l.any, "{sop}");
                for t in 0..5 {
                    assert_eq!(l.types[t], types.contains(&t), "{sop} type {t}");
                }
            }
            None => assert_eq!(*l, Label::NONE, "{sop}"),
        }
    }
    // Each RSNA slice loads alone; its one axial slice carries its label.
    for sop in ["ID_0a2ee809e", "ID_0a0e13868"] {
        let p = d.join(format!("rsna/slices/{sop}.dcm"));
        let scan =
            ichscan_load::load(&p, &ichscan_load::LoadOptions { allow_single_slice: true, ..Default::default() })
                .unwrap();
        let src = scan.source_slices.as_ref().unwrap();
        assert_eq!(src.sop_uids, vec![sop.to_string()]);
        let prep = prepare(&scan.volume, &default_planes());
        let ax = planes::axial_from_source_slices(prep.stack(Plane::Axial).unwrap(), src, &r);
        assert!(ax.iter().any(|l| *l == Some(r[sop])), "{sop}: {ax:?}");
    }
}

#[test]
fn bhx_boxes_on_cq500_ct1() {
    let Some(d) = shared() else { return };
    let boxes = labels::bhx_boxes(&d.join("cq500/labels/1_Initial_Manual_Labeling.csv")).unwrap();
    assert_eq!(boxes.len(), 6283);
    let sop = "1.2.276.0.7230010.3.1.4.296485376.1.1521714567.2079632";
    let mine: Vec<_> = boxes.iter().filter(|b| b.sop_uid == sop).cloned().collect();
    assert_eq!(mine.len(), 3);
    // Row 8422: {'x': 253.78652..., 'y': 273.25843, 'width': 56.08989..., 'height': 74.78653}, Intraventricular.
    let ivh = mine.iter().find(|b| b.kind == Some(IVH)).unwrap();
    assert!((ivh.x - 253.78652).abs() < 1e-5 && (ivh.height - 74.78653).abs() < 1e-5);
    assert!(mine.iter().any(|b| b.kind == Some(IPH)) && mine.iter().any(|b| b.kind == Some(SAH)));
    // Onto the scan: IPP (-144.5, -159.176, 77.431), rows along +x, 0.564453 mm pixels, so
    // x = -144.5 + (col - 0.5) * 0.564453 at pixel-edge coordinate col: IVH x in
    // [-1.5317, 30.1284], IPH [-62.4165, -1.9376], SAH [-74.1875, 58.9473].
    let scan = ichscan_load::load(
        &d.join("cq500/CQ500CT1 CQ500CT1"),
        &ichscan_load::LoadOptions { allow_single_slice: true, ..Default::default() },
    )
    .unwrap();
    let src = scan.source_slices.as_ref().unwrap();
    let regions = planes::bhx_regions(src, &mine);
    assert_eq!(regions.len(), 3);
    let r = regions.iter().find(|r| r.label.types[IVH]).unwrap();
    assert!((r.min[0] - -1.5317).abs() < 1e-3 && (r.max[0] - 30.1284).abs() < 1e-3, "{r:?}");
    let prep = prepare(&scan.volume, &default_planes());
    let sag = prep.stack(Plane::Sagittal).unwrap();
    let labs = planes::from_regions(sag, &regions);
    for (n, l) in labs.iter().enumerate() {
        let (lo, hi) = sag.extent_mm(n);
        let overlaps = |a: f64, b: f64| b > lo && a < hi;
        assert_eq!(l.types[IVH], overlaps(-1.5317, 30.1284), "slice {n} at {lo}..{hi}");
        assert_eq!(l.types[IPH], overlaps(-62.4165, -1.9376), "slice {n}");
        assert_eq!(l.any, overlaps(-74.1875, 58.9473), "slice {n}");
    }
    // The one axial slab holds all three.
    let ax = planes::from_regions(prep.stack(Plane::Axial).unwrap(), &regions);
    assert!(ax.iter().any(|l| l.types[IVH] && l.types[IPH] && l.types[SAH]));
}

/// A mask block of known extent on a 1 mm grid: exactly the slabs holding a voxel centre
/// of it are positive (each such slab has >= 100 mm³ / slab mm of it, far over 10 mm²).
#[test]
fn mask_labels_follow_the_geometry() {
    let dims = (60usize, 100usize, 100usize); // k, j, i
    let affine = Affine::new([-50.0, -50.0, -20.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    let ct = Volume::new(Array3::from_elem(dims, 30.0f32), affine, SourceGrid::Same).unwrap();
    // Block: x 10..19, y 0..9, z 20..29 mm (voxel centres), label 4 (intraparenchymal);
    // and one stray voxel of label 2 at (-30, -30, 0): 1 mm³, under the area threshold.
    let mask = Array3::from_shape_fn(dims, |(k, j, i)| {
        let (x, y, z) = (i as f64 - 50.0, j as f64 - 50.0, k as f64 - 20.0);
        if (10.0..=19.0).contains(&x) && (0.0..=9.0).contains(&y) && (20.0..=29.0).contains(&z) {
            4.0
        } else if (x, y, z) == (-30.0, -30.0, 0.0) {
            2.0
        } else {
            0.0
        }
    });
    let mask = Volume::new(mask, affine, SourceGrid::Same).unwrap();
    let prep = prepare(&ct, &default_planes());
    for s in &prep.stacks {
        let labs = planes::from_mask(s, &mask, planes::DEFAULT_MIN_AREA_MM2);
        let (lo_b, hi_b) = match s.plane {
            Plane::Sagittal => (10.0, 19.0),
            Plane::Coronal => (0.0, 9.0),
            Plane::Axial => (20.0, 29.0),
        };
        let mut pos = 0;
        for (n, l) in labs.iter().enumerate() {
            let (lo, hi) = s.extent_mm(n);
            let holds = (lo_b as i64..=hi_b as i64).any(|c| (c as f64) >= lo && (c as f64) < hi);
            assert_eq!(l.any, holds, "{:?} slice {n} [{lo}, {hi})", s.plane);
            assert_eq!(l.types[IPH], holds);
            assert!(!l.types[1], "the stray voxel is under the threshold");
            pos += holds as usize;
        }
        assert!(pos > 0);
    }
}

#[test]
fn slice_csv_both_forms_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.csv");
    std::fs::write(&p, "scan,plane,index,any,subdural\ncase1,axial,3,1,1\ncase1,coronal,10,0,0\n").unwrap();
    let rows = labels::slice_csv(&p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].plane, &rows[0].at), (Plane::Axial, &SliceRef::Index(3)));
    assert!(rows[0].label.types[1] && rows[0].label.any && !rows[1].label.any);
    std::fs::write(&p, "scan,plane,position_mm,any\ncase2,sagittal,-12.5,1\n").unwrap();
    assert_eq!(labels::slice_csv(&p).unwrap()[0].at, SliceRef::PositionMm(-12.5));
    std::fs::write(&p, "scan,plane,index,any\ncase2,oblique,1,1\n").unwrap();
    let e = labels::slice_csv(&p).unwrap_err();
    assert_eq!(e.line, 2);
    std::fs::write(&p, "scan,plane,index,any\ncase2,axial,1,yes\n").unwrap();
    assert!(labels::slice_csv(&p).unwrap_err().to_string().contains(":2:"));
}

#[test]
fn split_is_scan_disjoint_reproducible_and_stratified() {
    let scans: Vec<(String, Option<bool>)> = (0..100)
        .map(|i| (format!("s{i:03}"), Some(i % 4 == 0)))
        .chain((0..10).map(|i| (format!("u{i}"), None)))
        .collect();
    let a = split(&scans, 0.7, 42);
    let b = split(&scans, 0.7, 42);
    let c = split(&scans, 0.7, 43);
    assert_eq!(a, b);
    assert_ne!(a.train, c.train);
    assert!(a.train.iter().all(|n| !a.val.contains(n)));
    assert_eq!(a.train.len() + a.val.len(), 110);
    // 25 positives -> round(17.5) = 18 in train; 75 negatives -> 53; 10 unknown -> 7.
    let pos_train = a.train.iter().filter(|n| scans.iter().any(|(s, l)| s == *n && *l == Some(true))).count();
    assert_eq!(pos_train, 18);
    assert_eq!(a.train.len(), 18 + 53 + 7);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("split.json");
    a.save(&p).unwrap();
    assert_eq!(Split::load(&p).unwrap(), a);
    let mut bad = a.clone();
    bad.val.push(bad.train[0].clone());
    bad.save(&p).unwrap();
    assert!(Split::load(&p).unwrap_err().contains("both"));
}
