//! Fusion on constructed curves whose answers follow from the rules by hand.

use ichscan_localise::{fuse, runs, smooth, to_half, Candidate, Curve, PlaneRule, SCAN_THRESHOLD};
use ichscan_slices::Plane;

const BG: f64 = 0.05;

/// `n` slices at the background, `hi` on each inclusive range.
fn curve(plane: Plane, n: usize, ranges: &[(usize, usize)], hi: f64) -> Curve {
    let mut p = vec![Some(BG); n];
    for &(a, b) in ranges {
        for v in &mut p[a..=b] {
            *v = Some(hi);
        }
    }
    Curve { plane, p, types: vec![] }
}

fn rules() -> Vec<(Plane, PlaneRule)> {
    Plane::ALL.iter().map(|p| (*p, PlaneRule::default_for(*p, 0.5))).collect()
}

fn spans(b: &Candidate) -> [(usize, usize); 3] {
    Plane::ALL.map(|p| (b.run(p).first, b.run(p).last))
}

#[test]
fn smoothing_keeps_plateau_edges_and_flattens_one_slice_spikes() {
    // sigma 1: a plateau of 0.9 over background 0.05. At its first slice the kernel puts
    // weight 0.5 + 0.5 * 0.383 (one side plus the centre) ~ 0.69 on 0.9: ~0.64 >= 0.5; one
    // slice outside only ~0.31 of the weight: ~0.30 < 0.5. So runs keep the plateau's ends.
    let mut p = vec![BG; 20];
    p[5..=9].fill(0.9);
    let s = smooth(&p, 1.0);
    assert!(s[5] > 0.6 && s[5] < 0.68, "{}", s[5]);
    assert!(s[4] > 0.27 && s[4] < 0.33, "{}", s[4]);
    assert_eq!(runs(&s, 0.5).iter().map(|r| (r.first, r.last)).collect::<Vec<_>>(), vec![(5, 9)]);
    // A single spike of 0.95 keeps only the centre weight 0.399: 0.399*0.95 + 0.601*0.05 = 0.41.
    let mut q = vec![BG; 20];
    q[10] = 0.95;
    let s = smooth(&q, 1.0);
    assert!((s[10] - (0.399 * 0.95 + 0.601 * BG)).abs() < 0.005, "{}", s[10]);
    assert!(runs(&s, 0.5).is_empty());
    // Smoothing keeps the mean of a constant curve.
    assert!(smooth(&[0.3; 7], 2.0).iter().all(|v| (v - 0.3).abs() < 1e-12));
}

#[test]
fn one_lesion_gives_one_box_spanning_each_planes_run() {
    let curves = [
        curve(Plane::Axial, 30, &[(10, 12)], 0.9),
        curve(Plane::Sagittal, 150, &[(40, 55)], 0.9),
        curve(Plane::Coronal, 140, &[(50, 60)], 0.8),
    ];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert!(f.haemorrhage && !f.ambiguous);
    assert_eq!(f.boxes.len(), 1);
    assert_eq!(spans(&f.boxes[0]), [(10, 12), (40, 55), (50, 60)]);
    // Axial is not smoothed: its peak is 0.9. Coronal's plateau of 11 slices keeps 0.8 at
    // its middle (the kernel's 3-sigma support lies inside). Scan P = the weakest plane.
    assert!((f.boxes[0].probability - 0.8).abs() < 1e-6);
    assert!((f.probability - 0.8).abs() < 1e-6 && f.probability >= SCAN_THRESHOLD);
}

#[test]
fn two_lesions_side_by_side_give_two_boxes() {
    // Left and right of the midline: two sagittal runs, one range in the other planes.
    let curves = [
        curve(Plane::Axial, 30, &[(14, 17)], 0.9),
        curve(Plane::Sagittal, 150, &[(20, 35), (100, 112)], 0.9),
        curve(Plane::Coronal, 140, &[(60, 80)], 0.9),
    ];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert_eq!(f.boxes.len(), 2);
    assert!(!f.ambiguous, "one plane with several runs is unambiguous");
    assert_eq!(spans(&f.boxes[0]), [(14, 17), (20, 35), (60, 80)]);
    assert_eq!(spans(&f.boxes[1]), [(14, 17), (100, 112), (60, 80)]);
    // The image evidence is not consulted there: a small real lesion with no measurable
    // blood-density volume is kept.
    let ev = |c: &Candidate| if c.sagittal.first < 50 { 3.0 } else { 0.0 };
    let f = fuse(&curves, &rules(), 0.1, Some(&ev)).unwrap();
    assert_eq!(f.boxes.len(), 2);
    assert!(!f.ambiguous && f.boxes.iter().all(|b| b.evidence.is_none()));
}

#[test]
fn no_lesion_and_partial_evidence_give_no_box() {
    // Everything below threshold: P = the lowest plane maximum.
    let mut curves = [
        curve(Plane::Axial, 30, &[(3, 4)], 0.3),
        curve(Plane::Sagittal, 150, &[(40, 60)], 0.45),
        curve(Plane::Coronal, 140, &[], 0.0),
    ];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert!(!f.haemorrhage && f.boxes.is_empty());
    assert!((f.probability - BG).abs() < 1e-9, "{}", f.probability);
    // Strong evidence in two planes but none in the third: still no box.
    curves[0] = curve(Plane::Axial, 30, &[(3, 6)], 0.99);
    curves[1] = curve(Plane::Sagittal, 150, &[(40, 60)], 0.99);
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert!(!f.haemorrhage && f.boxes.is_empty() && f.probability < SCAN_THRESHOLD);
}

#[test]
fn noise_spikes_do_not_make_boxes() {
    // A real lesion plus one-slice spikes elsewhere in sagittal and coronal: the spikes
    // smooth below threshold (0.41, see above), so there is exactly the lesion's box.
    let mut sag = curve(Plane::Sagittal, 150, &[(40, 55)], 0.9);
    sag.p[120] = Some(0.95);
    let mut cor = curve(Plane::Coronal, 140, &[(50, 60)], 0.9);
    cor.p[10] = Some(0.99);
    let curves = [curve(Plane::Axial, 30, &[(10, 12)], 0.9), sag, cor];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert_eq!(f.boxes.len(), 1);
    assert_eq!(spans(&f.boxes[0]), [(10, 12), (40, 55), (50, 60)]);
    // Spikes only, everywhere: no box, even though one axial slice is 0.97 (axial is not
    // smoothed, so it is a run, but the other planes have none).
    let mut ax = curve(Plane::Axial, 30, &[], 0.0);
    ax.p[20] = Some(0.97);
    let mut sag = curve(Plane::Sagittal, 150, &[], 0.0);
    sag.p[70] = Some(0.97);
    let mut cor = curve(Plane::Coronal, 140, &[], 0.0);
    cor.p[70] = Some(0.97);
    let f = fuse(&[ax, sag, cor], &rules(), 0.0, None).unwrap();
    assert!(f.boxes.is_empty() && !f.haemorrhage);
    assert_eq!(f.runs[0].len(), 1);
}

#[test]
fn ghost_combinations_are_dropped_by_image_evidence() {
    // Two lesions on a diagonal: A at (axial 5-7, sagittal 20-30), B at (axial 20-23,
    // sagittal 100-110), both in coronal 60-80. The four combinations include two ghosts.
    let curves = [
        curve(Plane::Axial, 30, &[(5, 7), (20, 23)], 0.9),
        curve(Plane::Sagittal, 150, &[(20, 30), (100, 110)], 0.9),
        curve(Plane::Coronal, 140, &[(60, 80)], 0.9),
    ];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert_eq!(f.boxes.len(), 4);
    assert!(f.ambiguous);
    // Evidence: blood only where a real lesion is.
    let ev = |c: &Candidate| if (c.axial.first < 10) == (c.sagittal.first < 50) { 2.0 } else { 0.0 };
    let f = fuse(&curves, &rules(), 0.1, Some(&ev)).unwrap();
    assert!(!f.ambiguous);
    assert_eq!(
        f.boxes.iter().map(spans).collect::<Vec<_>>(),
        vec![[(5, 7), (20, 30), (60, 80)], [(20, 23), (100, 110), (60, 80)]]
    );
    // No candidate has evidence: the best-supported are kept, and here all four tie at 0,
    // so all stay and the result says it is ambiguous.
    let none = |_: &Candidate| 0.0;
    let f = fuse(&curves, &rules(), 0.1, Some(&none)).unwrap();
    assert_eq!(f.boxes.len(), 4);
    assert!(f.ambiguous && f.haemorrhage);
    // All below the minimum but not tied: only the best is kept, and it is still flagged.
    let weak = |c: &Candidate| if c.axial.first < 10 && c.sagittal.first < 50 { 0.05 } else { 0.01 };
    let f = fuse(&curves, &rules(), 0.1, Some(&weak)).unwrap();
    assert_eq!(f.boxes.iter().map(spans).collect::<Vec<_>>(), vec![[(5, 7), (20, 30), (60, 80)]]);
    assert!(f.ambiguous);
}

#[test]
fn head_free_slices_are_never_positive() {
    // A plateau that runs into slices without head: the run stops at the last head slice.
    let mut sag = curve(Plane::Sagittal, 50, &[(0, 10)], 0.9);
    for v in &mut sag.p[0..3] {
        *v = None;
    }
    let curves = [curve(Plane::Axial, 30, &[(10, 12)], 0.9), sag, curve(Plane::Coronal, 140, &[(50, 60)], 0.9)];
    let f = fuse(&curves, &rules(), 0.0, None).unwrap();
    assert_eq!(f.runs[1].len(), 1);
    assert_eq!((f.runs[1][0].first, f.runs[1][0].last), (3, 10));
}

#[test]
fn plane_thresholds_map_to_the_scan_threshold() {
    assert_eq!(to_half(0.3, 0.3), 0.5);
    assert_eq!(to_half(0.15, 0.3), 0.25);
    assert!((to_half(0.65, 0.3) - 0.75).abs() < 1e-12);
    assert_eq!(to_half(1.0, 0.3), 1.0);
    // Coronal at 0.35 with threshold 0.3 is positive; the others at 0.9 with 0.5.
    let mut r = rules();
    r[2].1.threshold = 0.3;
    let curves = [
        curve(Plane::Axial, 30, &[(10, 12)], 0.9),
        curve(Plane::Sagittal, 150, &[(40, 55)], 0.9),
        curve(Plane::Coronal, 140, &[(50, 60)], 0.35),
    ];
    let f = fuse(&curves, &r, 0.0, None).unwrap();
    assert!(f.haemorrhage);
    assert!((f.probability - to_half(0.35, 0.3)).abs() < 1e-6, "{}", f.probability);
    // The box's probability is on the same scale: its weakest plane, mapped.
    assert!((f.boxes[0].probability - to_half(0.35, 0.3)).abs() < 1e-6, "{}", f.boxes[0].probability);
}

#[test]
fn type_probabilities_come_from_the_box_runs() {
    // Types (epidural, subdural): inside the runs axial says (0.2, 0.9), sagittal (0.4, 0.7),
    // coronal (0.3, 0.8); outside 0.99 for epidural, which must not count.
    let mut cs = [
        curve(Plane::Axial, 30, &[(10, 12)], 0.9),
        curve(Plane::Sagittal, 150, &[(40, 55)], 0.9),
        curve(Plane::Coronal, 140, &[(50, 60)], 0.9),
    ];
    let inside = [(0.2, 0.9), (0.4, 0.7), (0.3, 0.8)];
    let ranges = [(10, 12), (40, 55), (50, 60)];
    for ((c, (e, s)), (a, b)) in cs.iter_mut().zip(inside).zip(ranges) {
        c.types = (0..c.p.len()).map(|i| if (a..=b).contains(&i) { vec![e, s] } else { vec![0.99, 0.0] }).collect();
    }
    let f = fuse(&cs, &rules(), 0.0, None).unwrap();
    let t = &f.boxes[0].types;
    assert!((t[0] - 0.3).abs() < 1e-9 && (t[1] - 0.8).abs() < 1e-9, "{t:?}");
    assert_eq!(f.types, *t);
}
