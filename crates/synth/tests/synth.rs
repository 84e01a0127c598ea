//! The simulator against its own specification: densities in the stated HU ranges, the
//! mask equal to what the lesions changed, boxes equal to mask extents, DICOM that reads
//! back identically, determinism, and insertion into real scans.

use ichscan_geometry::AIR_HU;
use ichscan_synth::{phantom_case, phantom_head, Anatomy, CaseSpec, Kind, Tissue};
use ndarray::Array3;

fn spec(seed: u64, kinds: &[Kind]) -> CaseSpec {
    CaseSpec { matrix: 192, p_none: 0.0, max_lesions: 1, kinds: kinds.to_vec(), ..CaseSpec::new(seed) }
}

fn median(mut v: Vec<f32>) -> f32 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Every tissue's median HU in a generated volume (noise and partial volume included)
/// lies in the stated range. Voxels are classed by the anatomy at their centre.
#[test]
fn tissue_densities_are_in_range() {
    let s = spec(11, &[Kind::Intraparenchymal]);
    let case = phantom_case(&s, true);
    let head = phantom_head(&s);
    let v = &case.volume;
    let mut by: std::collections::HashMap<&str, Vec<f32>> = Default::default();
    for ((k, j, i), hu) in v.data.indexed_iter() {
        if case.labels[[k, j, i]] != 0 || case.touched[[k, j, i]] {
            continue;
        }
        let p = v.voxel_to_patient([i as f64, j as f64, k as f64]);
        let q = head.to_head(p);
        let (t, truth) = head.model.sample(q);
        // Only voxels well inside their structure: the same tissue 1.5 mm around.
        let same =
            [[1.5, 0.0, 0.0], [-1.5, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, -1.5, 0.0], [0.0, 0.0, 2.6], [0.0, 0.0, -2.6]]
                .iter()
                .all(|d| head.at([p[0] + d[0], p[1] + d[1], p[2] + d[2]]).1 == truth);
        if !same {
            continue;
        }
        let key = match t {
            Tissue::Scalp => "scalp",
            Tissue::Ventricle => "csf",
            Tissue::Parenchyma if truth == head.model.d.gm => "grey",
            Tissue::Parenchyma if truth == head.model.d.wm => "white",
            Tissue::Bone if truth == head.model.d.diploe => "diploe",
            Tissue::Outside => "air",
            _ => continue,
        };
        by.entry(key).or_default().push(*hu);
    }
    let mut check = |k: &str, lo: f32, hi: f32| {
        let m = median(by.remove(k).unwrap_or_default());
        assert!((lo..=hi).contains(&m), "{k}: median {m} not in {lo}..{hi}");
    };
    check("scalp", 20.0, 60.0);
    check("grey", 35.0, 45.0);
    check("white", 22.0, 32.0);
    check("csf", 0.0, 15.0);
    check("diploe", 400.0, 800.0);
    check("air", AIR_HU, -990.0);
    // Cortical bone: the brightest voxels reach 1500-2000 HU.
    let max = v.data.iter().copied().fold(f32::MIN, f32::max);
    assert!((1400.0..=2000.0).contains(&max), "max {max}");
}

#[test]
fn lesion_densities_are_in_range() {
    for (n, kind) in Kind::ALL.into_iter().enumerate() {
        let case = phantom_case(&spec(100 + n as u64, &[kind]), true);
        assert_eq!(case.lesions.len(), 1, "{kind:?}");
        let l = &case.lesions[0];
        let (lo, hi) = if kind == Kind::Subarachnoid { (45.0, 70.0) } else { (50.0, 90.0) };
        assert!((lo..=hi).contains(&l.hu), "{kind:?} hu {}", l.hu);
        // Mask voxels are at least half blood: their median sits near the blood density
        // (partial volume with CSF or brain and noise pull it down a little).
        let vals: Vec<f32> = case
            .volume
            .data
            .indexed_iter()
            .filter(|(ix, _)| case.labels[*ix] == kind.label())
            .map(|(_, v)| *v)
            .collect();
        let m = median(vals);
        assert!(m >= l.hu / 2.0 && m <= l.hu + 10.0, "{kind:?}: median {m} for blood {}", l.hu);
    }
}

/// In-plane 1-pixel dilation (the point-spread blur spreads a change that far).
fn dilate_inplane(m: &Array3<bool>) -> Array3<bool> {
    let (nk, nj, ni) = m.dim();
    Array3::from_shape_fn((nk, nj, ni), |(k, j, i)| {
        (j.saturating_sub(1)..=(j + 1).min(nj - 1))
            .any(|jj| (i.saturating_sub(1)..=(i + 1).min(ni - 1)).any(|ii| m[[k, jj, ii]]))
    })
}

#[test]
fn mask_agrees_with_changed_voxels() {
    for (n, kind) in Kind::ALL.into_iter().enumerate() {
        let s = spec(200 + n as u64, &[kind]);
        let with = phantom_case(&s, true);
        let without = phantom_case(&s, false);
        assert!(without.lesions.is_empty());
        let changed = Array3::from_shape_fn(with.labels.dim(), |ix| with.volume.data[ix] != without.volume.data[ix]);
        let near = dilate_inplane(&with.touched);
        let mut n_mask = 0;
        for (ix, lab) in with.labels.indexed_iter() {
            if *lab != 0 {
                n_mask += 1;
                assert!(changed[ix], "{kind:?}: mask voxel {ix:?} unchanged");
            }
            if changed[ix] {
                assert!(near[ix], "{kind:?}: voxel {ix:?} changed away from any lesion");
            }
        }
        assert!(n_mask > 20, "{kind:?}: only {n_mask} mask voxels");
    }
}

#[test]
fn lesion_boxes_equal_mask_extents() {
    let s = CaseSpec { max_lesions: 3, ..spec(300, &[]) };
    let case = phantom_case(&s, true);
    assert!(!case.lesions.is_empty());
    for (n, l) in case.lesions.iter().enumerate() {
        let (mut lo, mut hi, mut count) = ([usize::MAX; 3], [0; 3], 0);
        for ((k, j, i), id) in case.instances.indexed_iter() {
            if *id as usize == n + 1 {
                count += 1;
                for (d, x) in [i, j, k].into_iter().enumerate() {
                    lo[d] = lo[d].min(x);
                    hi[d] = hi[d].max(x);
                }
            }
        }
        assert_eq!((l.voxel_min, l.voxel_max, l.n_voxels), (lo, hi, count));
        let sp = case.volume.spacing();
        assert!((l.volume_ml - count as f64 * sp[0] * sp[1] * sp[2] / 1000.0).abs() < 1e-9);
        let p = case.volume.voxel_to_patient(lo.map(|x| x as f64));
        for d in 0..3 {
            assert!((l.patient_mm_min[d] - p[d]).abs() < 1e-9);
        }
    }
}

#[test]
fn dicom_reads_back_with_the_same_voxels_and_geometry() {
    let case = phantom_case(&spec(400, &[Kind::Subdural]), true);
    let dir = tempfile::tempdir().unwrap();
    let meta = ichscan_load::write::SeriesMeta {
        patient_name: "SYNTH^T".into(),
        patient_id: "SYNTH-400".into(),
        series_description: "test".into(),
        uid_seed: 400,
        kernel: "SYNTH".into(),
    };
    ichscan_load::write::write_dicom_series(&case.volume, dir.path(), &meta).unwrap();
    let scan = ichscan_load::load(dir.path(), &Default::default()).unwrap();
    assert_eq!(scan.volume.data, case.volume.data);
    let (a, b) = (scan.volume.affine, case.volume.affine);
    for d in 0..3 {
        assert!((a.origin[d] - b.origin[d]).abs() < 1e-5);
        for e in 0..3 {
            assert!((a.axes[d][e] - b.axes[d][e]).abs() < 1e-5);
        }
    }
    // And NIfTI.
    let nii = dir.path().join("ct.nii.gz");
    ichscan_load::write::write_nifti(
        &nii,
        &case.volume.data.to_owned(),
        &case.volume.affine,
        ichscan_load::write::NiftiType::I16,
    )
    .unwrap();
    let back = ichscan_load::load(&nii, &Default::default()).unwrap();
    assert_eq!(back.volume.data, case.volume.data);
    assert!((back.volume.affine.origin[2] - b.origin[2]).abs() < 1e-3);
}

#[test]
fn same_seed_same_case_other_seed_other_case() {
    let a = phantom_case(&spec(500, &[]), true);
    let b = phantom_case(&spec(500, &[]), true);
    let c = phantom_case(&spec(501, &[]), true);
    assert_eq!(a.volume.data, b.volume.data);
    assert_eq!(a.labels, b.labels);
    assert_ne!(a.volume.data, c.volume.data);
}

#[test]
fn no_haemorrhage_case() {
    let case = phantom_case(&CaseSpec { p_none: 1.0, ..spec(600, &[]) }, true);
    assert!(!case.has_haemorrhage());
    assert!(case.labels.iter().all(|l| *l == 0));
}

#[test]
fn insertion_into_real_scans() {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !d.is_dir() {
        eprintln!("SKIP: ../shared/data is absent; real-scan insertion not tested");
        return;
    }
    for (n, scan) in ["rsna/series-ID_fff502d5", "dcm_qa_ct/GE"].iter().enumerate() {
        let loaded = ichscan_load::load(&d.join(scan), &Default::default()).unwrap();
        for (m, kind) in Kind::ALL.into_iter().enumerate() {
            let s = CaseSpec {
                p_none: 0.0,
                max_lesions: 1,
                kinds: vec![kind],
                ..CaseSpec::new(700 + 10 * n as u64 + m as u64)
            };
            let case = ichscan_synth::insert_into_scan(&loaded.volume, scan, &s).unwrap();
            assert_eq!(case.lesions.len(), 1, "{scan} {kind:?}");
            // Only touched voxels changed, and all mask voxels lie in the cranial cavity.
            let anat = ichscan_synth::real::VoxelAnatomy::new(&loaded.volume).unwrap();
            for (ix, v) in case.volume.data.indexed_iter() {
                if *v != loaded.volume.data[ix] {
                    assert!(case.touched[ix], "{scan} {kind:?}");
                }
                if case.labels[ix] != 0 {
                    assert!(anat.cavity[ix], "{scan} {kind:?}: mask outside the cavity");
                }
            }
        }
    }
}
