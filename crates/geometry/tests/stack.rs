//! Plane stacks with known geometry: tilt, uneven steps and round trips.
//!
//! The truth is a linear HU field f(p) = a . p + b written at each source pixel's patient
//! position. Bilinear/linear interpolation reproduces a linear field exactly, so after
//! resampling every output voxel whose neighbourhood lies inside the source must read
//! f(its own patient position). That checks the resampled affine and the interpolation
//! together, against geometry computed here and not by the code under test.

use ichscan_geometry::affine::{add, cross, dot, scale};
use ichscan_geometry::{PlaneStack, Vec3};
use ndarray::Array3;
use proptest::prelude::*;

const A: Vec3 = [0.7, -1.3, 2.1];
const B: f64 = 15.0;

fn field(p: Vec3) -> f64 {
    dot(A, p) + B
}

/// A stack of `n` slices whose origins advance by `steps[k]` along the normal and by
/// `step * tan(tilt)` along col_dir (gantry tilt about the row axis).
fn make_stack(
    row: Vec3,
    col: Vec3,
    px: [f64; 2],
    dims: [usize; 2],
    steps: &[f64],
    tilt_deg: f64,
) -> (PlaneStack, Array3<f32>) {
    let n = cross(row, col);
    let t = tilt_deg.to_radians().tan();
    let mut origins = vec![[-20.0, 30.0, 5.0]];
    for s in steps {
        let prev = *origins.last().unwrap();
        origins.push(add(prev, add(scale(n, *s), scale(col, s * t))));
    }
    let stack = PlaneStack::new(row, col, px, dims, origins.clone(), 1.0).unwrap();
    let data = Array3::from_shape_fn((origins.len(), dims[1], dims[0]), |(k, j, i)| {
        field(stack.voxel_to_patient([i as f64, j as f64, k as f64])) as f32
    });
    (stack, data)
}

fn check_linear(stack: &PlaneStack, data: &Array3<f32>) -> usize {
    let plan = stack.plan();
    let out = stack.resample(data.clone(), &plan);
    let mut checked = 0;
    for ((k, j, i), v) in out.indexed_iter() {
        let p = plan.affine.apply([i as f64, j as f64, k as f64]);
        let src = stack.patient_to_voxel(p);
        // Bilinear in each of the two bracketing slices needs all four neighbours inside
        // each of them.
        let inside = src[2] >= -1e-9
            && src[2] <= (stack.origins.len() - 1) as f64 + 1e-9
            && [src[2].floor(), src[2].ceil()].iter().all(|&s| {
                let o = stack.origins[(s.max(0.0) as usize).min(stack.origins.len() - 1)];
                let off = ichscan_geometry::affine::sub(p, o);
                let u = dot(off, stack.row_dir) / stack.pixel_spacing[0];
                let w = dot(off, stack.col_dir) / stack.pixel_spacing[1];
                u >= 0.0 && w >= 0.0 && u <= (stack.dims[0] - 1) as f64 && w <= (stack.dims[1] - 1) as f64
            });
        if inside {
            let want = field(p);
            assert!((*v as f64 - want).abs() < 2e-3 * want.abs().max(1.0), "voxel {i},{j},{k}: {v} vs {want}");
            checked += 1;
        }
    }
    checked
}

#[test]
fn regular_stack_is_its_own_grid() {
    let (s, data) = make_stack([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5], [8, 6], &[2.0; 4], 0.0);
    let plan = s.plan();
    assert!(!plan.resampled);
    assert_eq!(plan.dims, [8, 6, 5]);
    assert!((s.tilt_deg()).abs() < 1e-9);
    let sp = plan.affine.spacing();
    assert!((sp[2] - 2.0).abs() < 1e-12);
    assert_eq!(s.resample(data.clone(), &plan), data);
}

#[test]
fn tilt_is_measured_and_corrected() {
    // 18.5 degrees as in a GE head scan; 4 mm steps.
    let a = 18.5f64.to_radians();
    let (s, data) = make_stack([1.0, 0.0, 0.0], [0.0, a.cos(), -a.sin()], [0.5, 0.5], [40, 40], &[4.0; 9], 18.5);
    assert!((s.tilt_deg() - 18.5).abs() < 1e-6, "{}", s.tilt_deg());
    let plan = s.plan();
    assert!(plan.resampled);
    // Uniform 4 mm along the normal: same slice count; the k axis is the table
    // direction, one origin-to-origin step (4 mm / cos 18.5 deg) long, and i, j, k are
    // orthogonal.
    assert_eq!(plan.dims, [40, 40, 10]);
    let [ia, ja, ka] = plan.affine.axes;
    let step = scale(ichscan_geometry::affine::sub(s.origins[9], s.origins[0]), 1.0 / 9.0);
    for d in 0..3 {
        assert!((ka[d] - step[d]).abs() < 1e-9, "{ka:?} vs {step:?}");
    }
    assert!((dot(ka, ka).sqrt() - 4.0 / a.cos()).abs() < 1e-9);
    assert!(dot(ia, ja).abs() < 1e-12 && dot(ia, ka).abs() < 1e-12 && dot(ja, ka).abs() < 1e-12);
    assert!(check_linear(&s, &data) > 5000);
    // Beyond half a step past the end slices nothing was scanned: air.
    let out = s.resample(data.clone(), &plan);
    let (pos, n) = (s.positions(), s.normal());
    let mut outside = 0;
    for ((k, j, i), v) in out.indexed_iter() {
        let d = dot(n, plan.affine.apply([i as f64, j as f64, k as f64]));
        if d < pos[0] - 2.0 - 1e-6 || d > pos[9] + 2.0 + 1e-6 {
            assert_eq!(*v, ichscan_geometry::AIR_HU);
            outside += 1;
        }
    }
    assert!(outside > 100, "{outside}");
}

#[test]
fn uneven_spacing_goes_to_median_step() {
    // 3 steps of 4 mm, one of 1 mm, 3 of 7 mm (the GE scan's pattern): median 4 mm, span 34 mm.
    let steps = [4.0, 4.0, 4.0, 1.0, 7.0, 7.0, 7.0];
    let (s, data) = make_stack([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0], [10, 10], &steps, 0.0);
    let rep = s.spacing_report();
    assert!(!rep.uniform);
    assert_eq!((rep.median_mm, rep.min_mm, rep.max_mm), (4.0, 1.0, 7.0));
    // A change of protocol from 4 to 7 mm is not a gap.
    assert!(rep.gaps.is_empty(), "{:?}", rep.gaps);
    let plan = s.plan();
    // No tilt: the table direction is the normal; the median step is 4 mm, span 34 mm.
    assert_eq!(plan.dims[2], 34 / 4 + 1);
    assert!((plan.affine.spacing()[2] - 4.0).abs() < 1e-12);
    assert!(check_linear(&s, &data) > 500);
}

#[test]
fn a_missing_slice_is_a_gap() {
    // 2 mm steps with one slice missing after slice 3 (a 4 mm step), and two missing after 6.
    let (s, data) = make_stack(
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 1.0],
        [6, 6],
        &[2.0, 2.0, 2.0, 4.0, 2.0, 2.0, 6.0, 2.0],
        0.0,
    );
    let rep = s.spacing_report();
    assert_eq!(rep.gaps, vec![(3, 1), (6, 2)]);
    let plan = s.plan();
    // 22 mm at 2 mm: 12 planes, the 3 missing ones interpolated.
    assert_eq!(plan.dims[2], 12);
    assert!(check_linear(&s, &data) > 100);
}

#[test]
fn coincident_slices_are_rejected() {
    let r = PlaneStack::new([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0], [4, 4], vec![[0.0; 3], [0.0, 0.0, 0.0]], 1.0);
    assert!(r.is_err());
}

fn unit(v: Vec3) -> Vec3 {
    let n = dot(v, v).sqrt();
    scale(v, 1.0 / n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Source voxel -> patient -> source voxel is the identity for any stack, and the
    /// resampled grid carries every voxel's patient position (the linear field check).
    #[test]
    fn round_trip_any_orientation(
        yaw in -1.0f64..1.0, pitch in -1.0f64..1.0, roll in -1.0f64..1.0,
        tilt in -25.0f64..25.0,
        base in 0.8f64..5.0,
        jitter in proptest::collection::vec(0.5f64..1.6, 2..7),
        px in 0.3f64..1.2,
        qi in 0.0f64..9.0, qj in 0.0f64..9.0, qk in 0.0f64..1.0,
    ) {
        // An arbitrary orthonormal in-plane frame from three rotations.
        let (cy, sy, cp, sp, cr, sr) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin());
        let row = unit([cy * cp, sy * cp, -sp]);
        let col0 = [cy * sp * sr - sy * cr, sy * sp * sr + cy * cr, cp * sr];
        let col = unit(ichscan_geometry::affine::sub(col0, scale(row, dot(row, col0))));
        let steps: Vec<f64> = jitter.iter().map(|j| base * j).collect();
        let (s, data) = make_stack(row, col, [px, px * 1.1], [10, 10], &steps, tilt);
        let k = qk * (steps.len() as f64);
        let p = s.voxel_to_patient([qi, qj, k]);
        let back = s.patient_to_voxel(p);
        prop_assert!((back[0] - qi).abs() < 1e-6 && (back[1] - qj).abs() < 1e-6 && (back[2] - k).abs() < 1e-6,
            "{:?} vs {:?}", back, [qi, qj, k]);
        prop_assert!(check_linear(&s, &data) > 0, "no voxel checked");
    }
}
