//! Plane slicing with known answers: a bright cube at known patient coordinates inside a
//! water "head", stored in several voxel orders and orientations, must come out in the
//! same places and give the same box; windows map HU exactly; real scans look
//! anatomically right.

use ichscan_geometry::affine::{add, dot, scale};
use ichscan_geometry::{Affine, PlaneStack, SourceGrid, Vec3, Volume, AIR_HU};
use ichscan_slices::{box_from_ranges, default_planes, prepare, Plane, Window};
use ndarray::Array3;

const CUBE_C: Vec3 = [12.0, -20.0, 35.0];
const CUBE_H: f64 = 12.0;
const HEAD_R: f64 = 70.0;
const CUBE_HU: f32 = 1000.0;
const HEAD_HU: f32 = 30.0;

fn phantom(p: Vec3) -> f32 {
    if (0..3).all(|d| (p[d] - CUBE_C[d]).abs() <= CUBE_H) {
        CUBE_HU
    } else if dot(p, p).sqrt() <= HEAD_R {
        HEAD_HU
    } else {
        AIR_HU
    }
}

/// A volume of `dims` voxels whose voxel (i, j, k) is at `affine.apply([i, j, k])`.
fn volume(affine: Affine, dims: [usize; 3]) -> Volume {
    let data = Array3::from_shape_fn((dims[2], dims[1], dims[0]), |(k, j, i)| {
        phantom(affine.apply([i as f64, j as f64, k as f64]))
    });
    Volume::new(data, affine, SourceGrid::Same).unwrap()
}

/// Centred affine: voxel grid of `dims` with the given step vectors, centred on the origin.
fn centred(axes: [Vec3; 3], dims: [usize; 3]) -> Affine {
    let mut o = [0.0; 3];
    for d in 0..3 {
        o = add(o, scale(axes[d], -((dims[d] - 1) as f64) / 2.0));
    }
    Affine::new(o, axes)
}

/// Positive slices: a slab whose centre lies inside the cube averages to more than half
/// way between head and cube.
fn positive_range(v: &Volume) -> (ichscan_slices::Prepared, Vec<(Plane, usize, usize)>) {
    let prep = prepare(v, &default_planes());
    let thr = (HEAD_HU + CUBE_HU) / 2.0;
    let ranges = prep
        .stacks
        .iter()
        .map(|s| {
            let pos: Vec<usize> =
                (0..s.len()).filter(|&n| s.hu.index_axis(ndarray::Axis(0), n).iter().any(|v| *v > thr)).collect();
            (s.plane, *pos.first().expect("cube seen"), *pos.last().unwrap())
        })
        .collect();
    (prep, ranges)
}

fn check_box(v: &Volume, label: &str) -> Vec<(Plane, Vec<f64>)> {
    let (prep, ranges) = positive_range(v);
    let stacks: Vec<_> = prep.stacks.iter().collect();
    let b = box_from_ranges(&stacks, &ranges, v).unwrap();
    let max_sp = v.spacing().iter().copied().fold(0.0, f64::max);
    for (plane, _, _) in &ranges {
        let a = plane.normal_axis();
        let step = prep.stack(*plane).unwrap().config.step_mm;
        // Half a slice step, plus half an input voxel for where the cube's edge was sampled.
        let tol = step / 2.0 + max_sp / 2.0 + 1e-6;
        let (lo, hi) = (b.patient_mm_min[a], b.patient_mm_max[a]);
        assert!((lo - (CUBE_C[a] - CUBE_H)).abs() <= tol, "{label} {plane:?}: lo {lo} tol {tol}");
        assert!((hi - (CUBE_C[a] + CUBE_H)).abs() <= tol, "{label} {plane:?}: hi {hi} tol {tol}");
    }
    // The voxel box holds the cube's voxels: every input voxel inside it within tolerance.
    let src_dims = v.dims();
    for d in 0..3 {
        assert!(b.voxel_min[d] <= b.voxel_max[d] && b.voxel_max[d] < src_dims[d], "{label}: {b:?}");
    }
    ranges
        .iter()
        .map(|(p, f, l)| {
            let s = prep.stack(*p).unwrap();
            (*p, (*f..=*l).map(|n| s.positions_mm[n]).collect())
        })
        .collect()
}

#[test]
fn cube_in_every_storage_order_gives_the_same_slices_and_box() {
    let dims = [140, 150, 64];
    let lps = centred([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.5]], dims);
    let reference = check_box(&volume(lps, dims), "LPS");
    // Stored as RAS (i to the right, j anterior): flips only.
    let ras = centred([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 2.5]], dims);
    assert_eq!(check_box(&volume(ras, dims), "RAS"), reference);
    // A sagittal acquisition stored feet-first: i posterior, j inferior, k left.
    let sdims = [150, 64, 140];
    let sag = centred([[0.0, 1.0, 0.0], [0.0, 0.0, -2.5], [1.0, 0.0, 0.0]], sdims);
    assert_eq!(check_box(&volume(sag, sdims), "sagittal storage"), reference);
}

#[test]
fn cube_in_an_oblique_volume_gives_the_same_box() {
    let (a, b) = (20f64.to_radians(), 10f64.to_radians());
    // Rotate 20 degrees about z then 10 about x.
    let rz = |v: Vec3| [a.cos() * v[0] - a.sin() * v[1], a.sin() * v[0] + a.cos() * v[1], v[2]];
    let rx = |v: Vec3| [v[0], b.cos() * v[1] - b.sin() * v[2], b.sin() * v[1] + b.cos() * v[2]];
    let r = |v: Vec3| rx(rz(v));
    let dims = [170, 170, 80];
    let aff = centred([r([1.0, 0.0, 0.0]), r([0.0, 1.0, 0.0]), r([0.0, 0.0, 2.0])], dims);
    let v = volume(aff, dims);
    check_box(&v, "oblique");
    assert!(ichscan_slices::to_canonical(&v).resampled);
}

#[test]
fn cube_in_a_gantry_tilted_stack_gives_the_same_box() {
    // 20 degree tilt about x, table step 2.5 mm along z, slices 160 x 160 at 1 mm.
    let th = 20f64.to_radians();
    let (row, col) = ([1.0, 0.0, 0.0], [0.0, th.cos(), -th.sin()]);
    let n = 64;
    let origins: Vec<Vec3> =
        (0..n).map(|k| [-79.5, -79.5 * th.cos(), -80.0 + 2.5 * k as f64 + 79.5 * th.sin()]).collect();
    let stack = PlaneStack::new(row, col, [1.0, 1.0], [160, 160], origins, 1.0).unwrap();
    let slices = Array3::from_shape_fn((n, 160, 160), |(k, j, i)| {
        phantom(stack.voxel_to_patient([i as f64, j as f64, k as f64]))
    });
    let plan = stack.plan();
    assert!(plan.resampled);
    let data = stack.resample(slices, &plan);
    let v = Volume::new(data, plan.affine, SourceGrid::Stack(stack.clone())).unwrap();
    check_box(&v, "tilted");
    // The voxel box is in the *input* stack's indices: the cube centre's source voxel is inside it.
    let (prep, ranges) = positive_range(&v);
    let b = box_from_ranges(&prep.stacks.iter().collect::<Vec<_>>(), &ranges, &v).unwrap();
    let c = stack.patient_to_voxel(CUBE_C);
    for d in 0..3 {
        assert!((b.voxel_min[d] as f64) <= c[d] && c[d] <= b.voxel_max[d] as f64, "{b:?} vs {c:?}");
    }
}

#[test]
fn slices_outside_the_head_are_marked() {
    let dims = [200, 200, 64];
    let v = volume(centred([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.5]], dims), dims);
    let prep = prepare(&v, &default_planes());
    let s = prep.stack(Plane::Sagittal).unwrap();
    // The head is a 70 mm ball at the origin; the volume spans x = -99.5 .. 99.5.
    for n in 0..s.len() {
        let x = s.positions_mm[n];
        if x.abs() < HEAD_R - 5.0 {
            assert!(s.has_head[n], "x = {x}");
        }
        if x.abs() > HEAD_R + 5.0 {
            assert!(!s.has_head[n], "x = {x}");
        }
    }
}

#[test]
fn images_map_pixels_to_patient_mm() {
    let dims = [140, 150, 64];
    let v = volume(centred([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.5]], dims), dims);
    let prep = prepare(&v, &default_planes());
    for s in &prep.stacks {
        // The cube centre's pixel in its slice reads the cube.
        let a = s.plane.normal_axis();
        let n = s
            .positions_mm
            .iter()
            .enumerate()
            .min_by(|x, y| (x.1 - CUBE_C[a]).abs().total_cmp(&(y.1 - CUBE_C[a]).abs()))
            .unwrap()
            .0;
        let g = s.image;
        let p0 = g.to_patient(n as f64, 0.0, 0.0);
        let col = dot(ichscan_geometry::affine::sub(CUBE_C, p0), g.col_step) / dot(g.col_step, g.col_step);
        let row = dot(ichscan_geometry::affine::sub(CUBE_C, p0), g.row_step) / dot(g.row_step, g.row_step);
        let v = s.hu[[n, row.round() as usize, col.round() as usize]];
        assert!((v - CUBE_HU).abs() < 1.0, "{:?}: {v}", s.plane);
        // Superior is up in sagittal and coronal images, anterior up in axial ones.
        let up = [0.0, -1.0, 0.0];
        let want = if s.plane == Plane::Axial { up } else { [0.0, 0.0, 1.0] };
        assert!(dot(g.row_step, want) < 0.0, "{:?}", s.plane);
    }
}

#[test]
fn window_values_at_edges_and_centre() {
    let w = Window::BRAIN; // 40 / 80: 0 .. 80 HU
    assert_eq!((w.apply(0.0), w.apply(40.0), w.apply(80.0)), (0.0, 0.5, 1.0));
    assert_eq!((w.apply(-1000.0), w.apply(2000.0)), (0.0, 1.0));
    let s = Window::SUBDURAL; // 80 / 200: -20 .. 180
    assert_eq!((s.apply(-20.0), s.apply(80.0), s.apply(180.0)), (0.0, 0.5, 1.0));
    let b = Window::BONE; // 600 / 2800: -800 .. 2000
    assert_eq!((b.apply(-800.0), b.apply(600.0), b.apply(2000.0)), (0.0, 0.5, 1.0));
    assert_eq!(Window::parse("40/80").unwrap(), w);
    assert!(Window::parse("40").is_err() && Window::parse("40/0").is_err());
}

// ---- real scans (skipped when ../shared/data is absent) ----

fn shared() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/data is absent; real-scan checks not run");
        None
    }
}

/// Anatomy checks that hold for any head CT of a supine patient, from the DICOM axes:
/// - the internal air of the head (sinuses, nasal cavity) lies anterior (smaller y in LPS)
///   and inferior (smaller z) to the head's centre;
/// - the top of the skull is at the superior end: the axial head area shrinks to nothing
///   at the last head slice, which is above the slice of largest area;
/// - slices at the ends with no head are marked.
fn anatomy(path: &std::path::Path) {
    let scan = ichscan_load::load(path, &Default::default()).unwrap();
    let prep = prepare(&scan.volume, &default_planes());
    let c = &prep.canonical;
    let (lo, hi) = prep.head.bbox_mm.expect("a head");
    let centre = [0, 1, 2].map(|d| (lo[d] + hi[d]) / 2.0);
    // Internal air: HU < -500 inside the head mask (coarse cells fully inside).
    let m = &prep.head.mask;
    let mut sum = [0.0; 3];
    let mut count = 0.0;
    for ((k, j, i), hu) in c.data.indexed_iter() {
        if *hu < -500.0 {
            let p = [c.mm_of(0, i as f64), c.mm_of(1, j as f64), c.mm_of(2, k as f64)];
            let q = [0, 1, 2].map(|d| ((p[d] - prep.head.origin[d]) / prep.head.cell_mm).round());
            let (qk, qj, qi) = (q[2] as isize, q[1] as isize, q[0] as isize);
            let inside = |a: isize, b: isize, cc: isize| {
                a >= 0 && b >= 0 && cc >= 0 && m.get((a as usize, b as usize, cc as usize)).copied().unwrap_or(false)
            };
            // Inside the head: the cell and its neighbours in x and y are head (air
            // around the scalp is not).
            if inside(qk, qj, qi)
                && inside(qk, qj - 1, qi)
                && inside(qk, qj + 1, qi)
                && inside(qk, qj, qi - 1)
                && inside(qk, qj, qi + 1)
            {
                for d in 0..3 {
                    sum[d] += p[d];
                }
                count += 1.0;
            }
        }
    }
    let mm3 = count * c.spacing.iter().product::<f64>();
    assert!(mm3 > 100.0, "internal air: {mm3} mm³");
    let air = sum.map(|s| s / count);
    assert!(air[1] < centre[1], "internal air should be anterior: {air:?} vs centre {centre:?}");
    assert!(air[2] < centre[2], "internal air should be inferior: {air:?} vs centre {centre:?}");
    let ax = prep.stack(Plane::Axial).unwrap();
    let area: Vec<usize> =
        (0..ax.len()).map(|n| ax.hu.index_axis(ndarray::Axis(0), n).iter().filter(|v| **v > -300.0).count()).collect();
    let top = (0..ax.len()).rev().find(|&n| ax.has_head[n]).unwrap();
    let widest = (0..ax.len()).max_by_key(|&n| area[n]).unwrap();
    assert!(top > widest, "top {top} widest {widest}");
    assert!(area[top] * 4 < area[widest], "the vertex slice is a small cap: {} vs {}", area[top], area[widest]);
    // Head-free slices at the ends are marked: the field is wider than the head.
    let sag = prep.stack(Plane::Sagittal).unwrap();
    assert!(!sag.has_head[0] && !sag.has_head[sag.len() - 1], "sagittal end slices should have no head");
    assert!(sag.has_head[sag.len() / 2]);
    // Left/right: the canonical grid keeps the DICOM x axis (i increases towards the patient's left).
    assert_eq!(c.affine().orientation_code(), "LPS");
    let v = &scan.volume;
    let probe = [centre[0] + 30.0, centre[1], centre[2]];
    let a = c.data[[
        c.index_of(2, probe[2]).round() as usize,
        c.index_of(1, probe[1]).round() as usize,
        c.index_of(0, probe[0]).round() as usize,
    ]];
    let snapped = [0, 1, 2].map(|d| c.mm_of(d, c.index_of(d, probe[d]).round()));
    assert!((a - v.sample(v.patient_to_voxel(snapped))).abs() < 1e-3);
}

#[test]
fn cq500_planes_are_anatomically_right() {
    let Some(d) = shared() else { return };
    anatomy(&d.join("cq500/CQ500CT0 CQ500CT0"));
}

#[test]
fn ge_planes_are_anatomically_right() {
    let Some(d) = shared() else { return };
    let scan = ichscan_load::load(&d.join("dcm_qa_ct/GE"), &Default::default()).unwrap();
    let prep = prepare(&scan.volume, &default_planes());
    // The GE series covers the head from skull base to vertex: the head is found and the
    // top axial head slice is a small cap above the widest one.
    let ax = prep.stack(Plane::Axial).unwrap();
    assert!(ax.has_head.iter().any(|h| *h));
    anatomy(&d.join("dcm_qa_ct/GE"));
}

#[test]
fn a_box_thinner_than_the_input_spacing_still_names_a_voxel() {
    // 8 mm slices: voxel centres at z = -76, -68, ..., 76. One 5 mm axial slab that holds
    // no centre must give the slice nearest its middle, never voxel_min > voxel_max.
    let dims = [170, 170, 20];
    let aff = centred([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 8.0]], dims);
    let v = volume(aff, dims);
    let prep = prepare(&v, &default_planes());
    let ax = prep.stack(Plane::Axial).unwrap();
    let centre_inside = |n: usize| {
        let (lo, hi) = ax.extent_mm(n);
        (0..20).any(|k| (lo..=hi).contains(&(-76.0 + 8.0 * k as f64)))
    };
    let n = (0..ax.len()).find(|&n| !centre_inside(n)).expect("some 5 mm slab between 8 mm centres");
    let (lo, hi) = ax.extent_mm(n);
    let mid_k = (((lo + hi) / 2.0 + 76.0) / 8.0).round() as usize;
    let (sag, cor) = (prep.stack(Plane::Sagittal).unwrap(), prep.stack(Plane::Coronal).unwrap());
    let ranges = [(Plane::Axial, n, n), (Plane::Sagittal, 50, 60), (Plane::Coronal, 50, 60)];
    let b = box_from_ranges(&[ax, sag, cor], &ranges, &v).unwrap();
    assert_eq!((b.voxel_min[2], b.voxel_max[2]), (mid_k, mid_k), "slab {lo}..{hi}: {b:?}");
    assert!(b.voxel_min[0] < b.voxel_max[0] && b.voxel_min[1] < b.voxel_max[1]);
}
