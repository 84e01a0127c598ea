//! Slice data sets from the real label files: RSNA slice labels and BHX boxes on single
//! slices, CQ500 reads on a whole scan (skipped when ../shared/data is absent).

use std::path::PathBuf;

use ichscan_dataset::labels;
use ichscan_slices::{Plane, PlaneConfig};
use ichscan_train::data::{build, LabelSources, ScanEntry};

#[test]
fn rsna_bhx_and_reads_give_the_labels_by_hand() {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !d.is_dir() {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    }
    let mut entries: Vec<ScanEntry> = std::fs::read_dir(d.join("rsna/slices"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .map(|p| ScanEntry {
            name: p.file_stem().unwrap().to_string_lossy().into(),
            ct: p,
            mask: None,
            scan_label: None,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.push(ScanEntry {
        name: "CQ500-CT-1".into(),
        ct: d.join("cq500/CQ500CT1 CQ500CT1"),
        mask: None,
        scan_label: None,
    });
    let sources = LabelSources {
        bhx: labels::bhx_boxes(&d.join("cq500/labels/1_Initial_Manual_Labeling.csv")).unwrap(),
        rsna: labels::rsna_labels(&d.join("rsna/slices/labels.csv")).unwrap(),
        slices: vec![],
    };
    let cfg = PlaneConfig { size: 64, ..PlaneConfig::default_for(Plane::Axial) };
    let data = build(&entries, Plane::Axial, cfg, None, &sources).unwrap();
    // One sample per single slice; positives: the 5 RSNA slices with haemorrhage and CQ500-CT-1.
    assert_eq!(data.samples.len(), 11);
    assert_eq!(data.positives(), 6);
    let of = |name: &str| {
        let i = entries.iter().position(|e| e.name == name).unwrap();
        data.samples.iter().find(|s| s.scan == i).unwrap().label
    };
    // epidural, subdural, subarachnoid, intraparenchymal, intraventricular
    assert_eq!(of("ID_0a2ee809e").types, [false, true, false, true, true]);
    assert_eq!(of("CQ500-CT-1").types, [false, false, true, true, true]);
    assert!(!of("ID_0a022d86e").any);
    // Sagittal and coronal planes have nothing to take from single slices.
    assert!(build(
        &entries,
        Plane::Sagittal,
        PlaneConfig { size: 64, ..PlaneConfig::default_for(Plane::Sagittal) },
        None,
        &sources
    )
    .unwrap()
    .samples
    .is_empty());
    // A whole scan that the reads call negative: all its head slices, negative.
    let reads = labels::cq500_reads(&d.join("cq500/labels/reads.csv")).unwrap();
    let ct0 = ScanEntry {
        name: "CQ500-CT-0".into(),
        ct: d.join("cq500/CQ500CT0 CQ500CT0"),
        mask: None,
        scan_label: reads.get("CQ500-CT-0").copied(),
    };
    let data = build(
        &[ct0],
        Plane::Coronal,
        PlaneConfig { size: 64, ..PlaneConfig::default_for(Plane::Coronal) },
        None,
        &sources,
    )
    .unwrap();
    assert!(data.samples.len() > 50 && data.positives() == 0, "{} samples", data.samples.len());
}
