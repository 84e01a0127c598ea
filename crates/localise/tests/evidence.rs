//! Blood-density volume in a box, on volumes whose answer is countable by hand.

use ichscan_localise::evidence::blood_ml;
use ichscan_slices::Canonical;
use ndarray::Array3;

/// 40 HU brain in a 40^3 grid of 1 mm voxels (origin 0), with a 1000 HU bone slab at
/// i < 4 and a 70 HU partial-volume layer at i = 4 beside it.
fn brain() -> Array3<f32> {
    let mut d = Array3::<f32>::from_elem((40, 40, 40), 40.0);
    d.slice_mut(ndarray::s![.., .., 0..4]).fill(1000.0);
    d.slice_mut(ndarray::s![.., .., 4..5]).fill(70.0);
    d
}

fn canonical(d: Array3<f32>, mm: f64) -> Canonical {
    Canonical { data: d.into_shared(), origin: [0.0; 3], spacing: [mm; 3], resampled: false }
}

#[test]
fn a_blood_cube_counts_all_but_its_corners() {
    let mut d = brain();
    d.slice_mut(ndarray::s![10..20, 10..20, 20..30]).fill(70.0);
    // Inside the 10^3 cube, a voxel's 3x3x3 mean is 70 when interior, (18*70+9*40)/27 = 60
    // on a face, (12*70+15*40)/27 = 53.3 on an edge (all >= 52: counted) and
    // (8*70+19*40)/27 = 48.9 at the 8 corners (not counted). Outside, a face neighbour has
    // (9*70+18*40)/27 = 50 (not counted). The bone-side layer has bone neighbours.
    let c = canonical(d, 1.0);
    let whole = blood_ml(&c, [1.0; 3], [38.0; 3]);
    assert!((whole - 0.992).abs() < 1e-9, "{whole}");
    // A box holding only half of the cube (i = 20..=24) counts its half: of the 5 x 10 x 10
    // voxels, the 4 corners on the i = 20 side drop out.
    let half = blood_ml(&c, [20.0, 1.0, 1.0], [24.0, 38.0, 38.0]);
    assert!((half - 0.496).abs() < 1e-9, "{half}");
    // Away from the cube: nothing, the partial-volume layer by the bone included.
    assert_eq!(blood_ml(&c, [1.0, 25.0, 1.0], [38.0, 38.0, 38.0]), 0.0);
    // Voxel volume scales the answer: 2 mm voxels hold 8x the volume per voxel.
    let mut d = brain();
    d.slice_mut(ndarray::s![10..20, 10..20, 20..30]).fill(70.0);
    let c2 = canonical(d, 2.0);
    assert!((blood_ml(&c2, [2.0; 3], [76.0; 3]) - 0.992 * 8.0).abs() < 1e-9);
}
