//! Round trip: a voxel's patient coordinate is the same after reorientation (and
//! resampling, for oblique volumes). The volume holds a linear field of patient position,
//! f(p) = a . p + b, which trilinear interpolation reproduces exactly, so every canonical
//! voxel must read f at its own patient position.

use ichscan_geometry::affine::{add, dot, scale};
use ichscan_geometry::{Affine, SourceGrid, Vec3, Volume};
use ichscan_slices::to_canonical;
use ndarray::Array3;
use proptest::prelude::*;

const A: Vec3 = [1.5, -2.0, 0.75];

fn field(p: Vec3) -> f64 {
    dot(A, p) + 100.0
}

fn build(affine: Affine, dims: [usize; 3]) -> Volume {
    let data = Array3::from_shape_fn((dims[2], dims[1], dims[0]), |(k, j, i)| {
        field(affine.apply([i as f64, j as f64, k as f64])) as f32
    });
    Volume::new(data, affine, SourceGrid::Same).unwrap()
}

fn check(v: &Volume) -> usize {
    let c = to_canonical(v);
    let inv = v.affine.inverse().unwrap();
    let d = v.dims();
    let mut n = 0;
    for ((k, j, i), val) in c.data.indexed_iter() {
        let p = [c.mm_of(0, i as f64), c.mm_of(1, j as f64), c.mm_of(2, k as f64)];
        let src = inv.apply(p);
        if (0..3).all(|a| src[a] >= -1e-6 && src[a] <= (d[a] - 1) as f64 + 1e-6) {
            let want = field(p);
            assert!((*val as f64 - want).abs() < 1e-3 * want.abs().max(10.0), "canonical {i},{j},{k}: {val} vs {want}");
            n += 1;
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any storage order: axes permuted and flipped, any spacing.
    #[test]
    fn aligned_any_order(perm in 0usize..6, flips in 0u8..8, sp in proptest::collection::vec(0.4f64..3.0, 3)) {
        let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let mut axes = [[0.0; 3]; 3];
        for (a, &c) in perms[perm].iter().enumerate() {
            axes[a][c] = if flips >> a & 1 == 1 { -sp[a] } else { sp[a] };
        }
        let v = build(Affine::new([-7.0, 3.0, 11.0], axes), [7, 6, 5]);
        let c = to_canonical(&v);
        prop_assert!(!c.resampled);
        prop_assert_eq!(check(&v), 7 * 6 * 5);
    }

    /// Oblique: rotated about two axes, resampled.
    #[test]
    fn oblique_any_rotation(a in 0.05f64..0.6, b in -0.6f64..-0.05, sp in 0.5f64..2.0) {
        let rz = |v: Vec3| [a.cos() * v[0] - a.sin() * v[1], a.sin() * v[0] + a.cos() * v[1], v[2]];
        let rx = |v: Vec3| [v[0], b.cos() * v[1] - b.sin() * v[2], b.sin() * v[1] + b.cos() * v[2]];
        let r = |v: Vec3| rx(rz(v));
        let axes = [scale(r([1.0, 0.0, 0.0]), sp), scale(r([0.0, 1.0, 0.0]), sp), scale(r([0.0, 0.0, 1.0]), 2.0 * sp)];
        let v = build(Affine::new(add([1.0, 2.0, 3.0], [0.0; 3]), axes), [12, 11, 10]);
        prop_assert!(to_canonical(&v).resampled);
        prop_assert!(check(&v) > 50);
    }
}
