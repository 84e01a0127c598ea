//! One simulated case: CT volume, label mask and lesion list.

use ichscan_geometry::{Affine, SourceGrid, Vec3, Volume, AIR_HU};
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;
use serde::Serialize;

use crate::lesion::{Hit, Kind, Lesion};
use crate::phantom::HeadModel;
use crate::rng::Rng;
use crate::{Anatomy, Tissue};

/// What to generate.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    pub seed: u64,
    /// Reconstructed slice thickness = slice step, mm (0.6-5).
    pub slice_mm: f64,
    /// Pixel size, mm; `None` draws a 205-256 mm field of view (0.4-0.5 mm at 512).
    pub pixel_mm: Option<f64>,
    /// Columns = rows.
    pub matrix: usize,
    /// Types to draw from (all five when empty).
    pub kinds: Vec<Kind>,
    /// Probability of a case with no haemorrhage.
    pub p_none: f64,
    /// At most this many lesions (at least one when not "none").
    pub max_lesions: usize,
    /// Lesion size factor (1 = typical).
    pub size: f64,
}

impl CaseSpec {
    pub fn new(seed: u64) -> Self {
        CaseSpec {
            seed,
            slice_mm: 5.0,
            pixel_mm: None,
            matrix: 512,
            kinds: vec![],
            p_none: 0.3,
            max_lesions: 2,
            size: 1.0,
        }
    }
}

/// One lesion as it came out on the grid.
#[derive(Debug, Clone, Serialize)]
pub struct LesionInfo {
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Label of this type in the mask.
    pub label: u8,
    pub hu: f32,
    pub n_voxels: usize,
    pub volume_ml: f64,
    /// Inclusive voxel index box [i, j, k] of the lesion's mask voxels.
    pub voxel_min: [usize; 3],
    pub voxel_max: [usize; 3],
    /// Patient LPS mm box of those voxels' centres.
    pub patient_mm_min: Vec3,
    pub patient_mm_max: Vec3,
}

/// A generated case.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    /// "phantom", or the scan a lesion was inserted into.
    pub source: String,
    /// HU (whole numbers), on the scanner grid.
    pub volume: Volume,
    /// Haemorrhage type label per voxel (0 none; see [`Kind`]).
    pub labels: Array3<u8>,
    /// Which lesion (index + 1) each labelled voxel belongs to.
    pub instances: Array3<u8>,
    /// Voxels any lesion or its oedema touched, even partly (for checking the mask).
    pub touched: Array3<bool>,
    pub lesions: Vec<LesionInfo>,
}

impl Case {
    pub fn has_haemorrhage(&self) -> bool {
        !self.lesions.is_empty()
    }

    pub fn types(&self) -> Vec<Kind> {
        let mut t: Vec<Kind> = self.lesions.iter().map(|l| l.kind).collect();
        t.sort();
        t.dedup();
        t
    }
}

/// The phantom in the scanner: head frame -> patient by rotation `r` (columns are the head
/// axes in patient space) and translation `t`.
pub struct PlacedHead {
    pub model: HeadModel,
    pub r: [Vec3; 3],
    pub t: Vec3,
}

impl PlacedHead {
    pub fn to_head(&self, p: Vec3) -> Vec3 {
        let d = [p[0] - self.t[0], p[1] - self.t[1], p[2] - self.t[2]];
        [0, 1, 2].map(|a| self.r[a][0] * d[0] + self.r[a][1] * d[1] + self.r[a][2] * d[2])
    }

    pub fn to_patient(&self, q: Vec3) -> Vec3 {
        [0, 1, 2].map(|d| self.t[d] + self.r[0][d] * q[0] + self.r[1][d] * q[1] + self.r[2][d] * q[2])
    }
}

impl Anatomy for PlacedHead {
    fn at(&self, p: Vec3) -> (Tissue, f32) {
        self.model.sample(self.to_head(p))
    }
    fn depth(&self, p: Vec3) -> f64 {
        self.model.depth(self.to_head(p))
    }
    fn cavity_box(&self) -> (Vec3, Vec3) {
        let a = self.model.cavity.a;
        let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for c in 0..8 {
            let q = [0, 1, 2].map(|d| if c >> d & 1 == 1 { a[d] } else { -a[d] });
            let p = self.to_patient(q);
            for d in 0..3 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        (lo, hi)
    }
    fn cavity_centre(&self) -> Vec3 {
        self.t
    }
    fn down(&self) -> Vec3 {
        [0.0, 1.0, 0.0]
    }
    fn parenchyma_hu(&self) -> f32 {
        (self.model.d.gm + self.model.d.wm) / 2.0
    }
}

fn rotation(yaw: f64, pitch: f64, roll: f64) -> [Vec3; 3] {
    // Columns of Rz(yaw) Rx(pitch) Ry(roll): where the head's x, y, z axes point.
    let (cy, sy, cp, sp, cr, sr) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin());
    let rz = [[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let ry = [[cr, 0.0, sr], [0.0, 1.0, 0.0], [-sr, 0.0, cr]];
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut m = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        m
    };
    let m = mul(mul(rz, rx), ry);
    [[m[0][0], m[1][0], m[2][0]], [m[0][1], m[1][1], m[2][1]], [m[0][2], m[1][2], m[2][2]]]
}

/// Chooses the lesions of a case.
fn plan_lesions(spec: &CaseSpec, rng: &mut Rng) -> Vec<Kind> {
    if rng.chance(spec.p_none) {
        return vec![];
    }
    let pool: Vec<Kind> = if spec.kinds.is_empty() { Kind::ALL.to_vec() } else { spec.kinds.clone() };
    let n = 1 + rng.below(spec.max_lesions.max(1));
    (0..n).map(|_| pool[rng.below(pool.len())]).collect()
}

/// The head of a case: anatomy, pose and pixel size, the first draws from the seed.
fn draw_head(spec: &CaseSpec, rng: &mut Rng) -> (PlacedHead, f64) {
    let model = HeadModel::random(rng);
    let deg = |d: f64| d.to_radians();
    let r = rotation(deg(rng.range(-8.0, 8.0)), deg(rng.range(-12.0, 12.0)), deg(rng.range(-6.0, 6.0)));
    // A 205-256 mm field of view (0.4-0.5 mm pixels at 512), whatever the matrix.
    let pixel = spec.pixel_mm.unwrap_or_else(|| rng.range(0.4, 0.5) * 512.0 / spec.matrix as f64);
    let t = [rng.range(-8.0, 8.0), rng.range(-12.0, 12.0), 0.0];
    (PlacedHead { model, r, t }, pixel)
}

/// The phantom head of the case `spec` describes, for classifying its points (tests).
pub fn phantom_head(spec: &CaseSpec) -> PlacedHead {
    draw_head(spec, &mut Rng::new(spec.seed)).0
}

/// Generates a phantom case. With `with_lesions = false` the same case without its
/// haemorrhages (same anatomy, same noise) comes out, for checking what the lesions changed.
pub fn phantom_case(spec: &CaseSpec, with_lesions: bool) -> Case {
    let mut rng = Rng::new(spec.seed);
    let (head, pixel) = draw_head(spec, &mut rng);
    let t = head.t;
    let hi = head.model.extent().1;
    let kinds = plan_lesions(spec, &mut rng);
    let mut lrng = rng.fork(1);
    let lesions: Vec<Lesion> = kinds.iter().filter_map(|k| Lesion::place(*k, &head, &mut lrng, spec.size)).collect();
    let noise_sigma = rng.range(2.5, 5.0) * (5.0 / spec.slice_mm).sqrt();
    let noise_seed = rng.next_u64();
    // Scan range: from the skull base region up past the vertex.
    let z0 = t[2] - head.model.cavity.a[2] - 45.0;
    let z1 = t[2] + hi[2] + 8.0;
    let nk = ((z1 - z0) / spec.slice_mm).ceil() as usize;
    let m = spec.matrix;
    let half = (m as f64 - 1.0) / 2.0 * pixel;
    let affine = Affine::new([-half, -half, z0], [[pixel, 0.0, 0.0], [0.0, pixel, 0.0], [0.0, 0.0, spec.slice_mm]]);
    let active: Vec<Lesion> = if with_lesions { lesions } else { vec![] };
    render(&head, &active, affine, [m, m, nk], spec.slice_mm, noise_sigma, noise_seed, spec.seed, "phantom".into())
}

/// A fixed pseudo-random number in [0, 1) per voxel.
fn hash01(i: u64, j: u64, k: u64) -> f64 {
    let mut h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ j.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ k.wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Sub-samples across the slice profile: one per 1.25 mm of thickness.
fn sub_samples(thickness: f64) -> usize {
    (thickness / 1.25).ceil().clamp(1.0, 8.0) as usize
}

#[allow(clippy::too_many_arguments)]
fn render(
    anat: &dyn Anatomy,
    lesions: &[Lesion],
    affine: Affine,
    dims: [usize; 3],
    thickness: f64,
    noise_sigma: f64,
    noise_seed: u64,
    seed: u64,
    source: String,
) -> Case {
    let [ni, nj, nk] = dims;
    let ns = sub_samples(thickness);
    let mut data = Array3::<f32>::zeros((nk, nj, ni));
    let mut labels = Array3::<u8>::zeros((nk, nj, ni));
    let mut instances = Array3::<u8>::zeros((nk, nj, ni));
    let mut touched = Array3::<bool>::from_elem((nk, nj, ni), false);
    (
        data.axis_iter_mut(Axis(0)),
        labels.axis_iter_mut(Axis(0)),
        instances.axis_iter_mut(Axis(0)),
        touched.axis_iter_mut(Axis(0)),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(k, (mut plane, mut lab, mut inst, mut tch))| {
            let mut counts = vec![0u8; lesions.len()];
            for j in 0..nj {
                for i in 0..ni {
                    let base = affine.apply([i as f64, j as f64, k as f64]);
                    let mut sum = 0.0f32;
                    counts.iter_mut().for_each(|c| *c = 0);
                    let mut any = false;
                    // Stratified sampling of the slice profile, jittered per pixel so thin
                    // oblique structures blur into a band instead of aliasing into lines.
                    let jitter = hash01(i as u64, j as u64, k as u64);
                    for s in 0..ns {
                        let dz = ((s as f64 + jitter) / ns as f64 - 0.5) * thickness;
                        let p = [base[0], base[1], base[2] + dz];
                        let (tissue, mut hu) = anat.at(p);
                        if !lesions.is_empty() && tissue != Tissue::Outside {
                            let depth = anat.depth(p);
                            for (n, l) in lesions.iter().enumerate() {
                                match l.hit(p, tissue, depth) {
                                    Hit::Blood => {
                                        hu = l.hu;
                                        counts[n] += 1;
                                        any = true;
                                    }
                                    Hit::Oedema if tissue == Tissue::Parenchyma => {
                                        hu = l.oedema_hu;
                                        any = true;
                                    }
                                    _ => {}
                                }
                            }
                        }
                        sum += hu;
                    }
                    plane[[j, i]] = sum / ns as f32;
                    tch[[j, i]] = any;
                    if let Some((n, c)) = counts.iter().enumerate().max_by_key(|(_, c)| **c) {
                        if 2 * (*c as usize) >= ns && *c > 0 {
                            lab[[j, i]] = lesions[n].kind.label();
                            inst[[j, i]] = n as u8 + 1;
                        }
                    }
                }
            }
            // Scanner noise, then the point-spread blur that also correlates it; the
            // blur cuts white-noise sigma by 0.375, so the noise is drawn larger.
            let mut rng = Rng::new(noise_seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for v in plane.iter_mut() {
                if *v > -950.0 {
                    *v += (rng.normal() * noise_sigma / 0.375) as f32;
                }
            }
            let blurred = blur(&plane.to_owned());
            for (v, b) in plane.iter_mut().zip(blurred.iter()) {
                *v = b.round().clamp(AIR_HU, 3071.0);
            }
        });
    let infos = lesion_infos(lesions, &instances, &affine);
    let volume = Volume::new(data, affine, SourceGrid::Same).expect("regular grid");
    Case { seed, source, volume, labels, instances, touched, lesions: infos }
}

/// Each lesion's voxel count, volume and box, from the instance map.
pub(crate) fn lesion_infos(lesions: &[Lesion], instances: &Array3<u8>, affine: &Affine) -> Vec<LesionInfo> {
    let sp = affine.spacing();
    let mut infos = Vec::new();
    for (n, l) in lesions.iter().enumerate() {
        let id = n as u8 + 1;
        let (mut lo, mut hi, mut count) = ([usize::MAX; 3], [0usize; 3], 0usize);
        for ((k, j, i), v) in instances.indexed_iter() {
            if *v == id {
                count += 1;
                for (d, x) in [i, j, k].into_iter().enumerate() {
                    lo[d] = lo[d].min(x);
                    hi[d] = hi[d].max(x);
                }
            }
        }
        if count == 0 {
            continue;
        }
        let pmin = affine.apply(lo.map(|x| x as f64));
        let pmax = affine.apply(hi.map(|x| x as f64));
        infos.push(LesionInfo {
            kind: l.kind,
            label: l.kind.label(),
            hu: l.hu,
            n_voxels: count,
            volume_ml: count as f64 * sp[0] * sp[1] * sp[2] / 1000.0,
            voxel_min: lo,
            voxel_max: hi,
            patient_mm_min: [0, 1, 2].map(|d| pmin[d].min(pmax[d])),
            patient_mm_max: [0, 1, 2].map(|d| pmin[d].max(pmax[d])),
        });
    }
    infos
}

/// 3x3 separable [1/4, 1/2, 1/4] blur, edges replicated.
fn blur(a: &Array2<f32>) -> Array2<f32> {
    let (nj, ni) = a.dim();
    let mut tmp = a.clone();
    for j in 0..nj {
        for i in 0..ni {
            let l = a[[j, i.saturating_sub(1)]];
            let r = a[[j, (i + 1).min(ni - 1)]];
            tmp[[j, i]] = 0.25 * l + 0.5 * a[[j, i]] + 0.25 * r;
        }
    }
    let mut out = tmp.clone();
    for j in 0..nj {
        for i in 0..ni {
            let u = tmp[[j.saturating_sub(1), i]];
            let d = tmp[[(j + 1).min(nj - 1), i]];
            out[[j, i]] = 0.25 * u + 0.5 * tmp[[j, i]] + 0.25 * d;
        }
    }
    out
}

/// Inserts lesions into a real scan (see [`crate::real`]); the scan keeps its grid.
pub fn insert_into_scan(volume: &Volume, source: &str, spec: &CaseSpec) -> Result<Case, String> {
    crate::real::insert(volume, source, spec)
}
