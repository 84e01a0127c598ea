//! Haemorrhages in a real scan: the anatomy comes from HU.
//!
//! * Cranial cavity: per axial plane, everything that a flood fill from the image border
//!   through non-bone voxels cannot reach (the skull ring encloses it); bone is dilated by
//!   one pixel first so partial-volume gaps in the ring do not leak. Planes where the ring
//!   is open (skull base) get no cavity, so lesions stay above it.
//! * Depth below the inner table: a chamfer distance transform of the cavity, in mm.
//! * Tissue inside the cavity: CSF below 20 HU (ventricles if deeper than 15 mm, sulci and
//!   cisterns otherwise), calcification above 100 HU, parenchyma between.
//!
//! Blood replaces what is there with the scan's own noise level, measured in parenchyma.

use ichscan_geometry::{Vec3, Volume};
use ndarray::{Array2, Array3, Axis};

use crate::case::{lesion_infos, Case, CaseSpec};
use crate::lesion::{Hit, Lesion};
use crate::rng::Rng;
use crate::{Anatomy, Tissue};

const BONE_HU: f32 = 200.0;

/// Anatomy of a loaded scan, on its own voxel grid.
pub struct VoxelAnatomy<'a> {
    pub volume: &'a Volume,
    pub cavity: Array3<bool>,
    pub depth: Array3<f32>,
    centre: Vec3,
    bbox: (Vec3, Vec3),
    parenchyma: f32,
}

impl<'a> VoxelAnatomy<'a> {
    pub fn new(volume: &'a Volume) -> Result<Self, String> {
        let data = &volume.data;
        let (nk, nj, ni) = data.dim();
        let mut cavity = Array3::<bool>::from_elem((nk, nj, ni), false);
        for (k, mut plane) in cavity.axis_iter_mut(Axis(0)).enumerate() {
            let bone = data.index_axis(Axis(0), k).mapv(|v| v > BONE_HU);
            let bone = dilate2(&bone);
            let outside = flood_from_border(&bone);
            let (mut inside, mut total) = (0usize, 0usize);
            for ((j, i), c) in plane.indexed_iter_mut() {
                *c = !outside[[j, i]] && !bone[[j, i]];
                inside += *c as usize;
                total += 1;
            }
            // A plane that is mostly "inside" has no closed skull ring: drop it.
            if inside * 2 > total {
                plane.fill(false);
            }
        }
        let sp = volume.spacing();
        let depth = chamfer(&cavity, sp);
        let (mut lo, mut hi, mut n, mut sum) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3], 0usize, [0.0; 3]);
        let mut par = Vec::new();
        for ((k, j, i), c) in cavity.indexed_iter() {
            if *c {
                let p = volume.voxel_to_patient([i as f64, j as f64, k as f64]);
                for d in 0..3 {
                    lo[d] = lo[d].min(p[d]);
                    hi[d] = hi[d].max(p[d]);
                    sum[d] += p[d];
                }
                n += 1;
                let v = data[[k, j, i]];
                if (20.0..60.0).contains(&v) && par.len() < 200_000 && (n % 7 == 0) {
                    par.push(v);
                }
            }
        }
        let cc = n as f64 * sp[0] * sp[1] * sp[2] / 1000.0;
        if cc < 200.0 {
            return Err(format!(
                "found only {cc:.0} mL of cranial cavity (a head needs over 1000); is this a head CT?"
            ));
        }
        par.sort_by(|a, b| a.total_cmp(b));
        let parenchyma = par.get(par.len() / 2).copied().unwrap_or(35.0);
        Ok(VoxelAnatomy { volume, cavity, depth, centre: sum.map(|s| s / n as f64), bbox: (lo, hi), parenchyma })
    }

    fn index(&self, p: Vec3) -> Option<(usize, usize, usize)> {
        let v = self.volume.patient_to_voxel(p);
        let (nk, nj, ni) = self.cavity.dim();
        let r = [v[0].round(), v[1].round(), v[2].round()];
        if r.iter().any(|x| *x < 0.0) || r[0] >= ni as f64 || r[1] >= nj as f64 || r[2] >= nk as f64 {
            return None;
        }
        Some((r[2] as usize, r[1] as usize, r[0] as usize))
    }
}

impl Anatomy for VoxelAnatomy<'_> {
    fn at(&self, p: Vec3) -> (Tissue, f32) {
        let Some(ix) = self.index(p) else {
            return (Tissue::Outside, -1000.0);
        };
        let hu = self.volume.data[ix];
        let t = if self.cavity[ix] {
            // Class from the 3x3 in-plane mean: single noisy voxels do not flip it.
            let (k, j, i) = ix;
            let (_, nj, ni) = self.volume.data.dim();
            let mut sum = 0.0;
            let mut n = 0.0;
            for jj in j.saturating_sub(1)..=(j + 1).min(nj - 1) {
                for ii in i.saturating_sub(1)..=(i + 1).min(ni - 1) {
                    sum += self.volume.data[[k, jj, ii]];
                    n += 1.0;
                }
            }
            let mean = sum / n;
            if mean < 20.0 {
                if self.depth[ix] > 15.0 {
                    Tissue::Ventricle
                } else {
                    Tissue::Csf
                }
            } else if mean > 100.0 {
                Tissue::Calcification
            } else {
                Tissue::Parenchyma
            }
        } else if hu > BONE_HU {
            Tissue::Bone
        } else if hu < -300.0 {
            Tissue::Outside
        } else {
            Tissue::Other
        };
        (t, hu)
    }
    fn depth(&self, p: Vec3) -> f64 {
        match self.index(p) {
            Some(ix) if self.cavity[ix] => self.depth[ix] as f64,
            _ => -1.0,
        }
    }
    fn cavity_box(&self) -> (Vec3, Vec3) {
        self.bbox
    }
    fn cavity_centre(&self) -> Vec3 {
        self.centre
    }
    fn down(&self) -> Vec3 {
        [0.0, 1.0, 0.0]
    }
    fn parenchyma_hu(&self) -> f32 {
        self.parenchyma
    }
}

fn dilate2(m: &Array2<bool>) -> Array2<bool> {
    let (nj, ni) = m.dim();
    Array2::from_shape_fn((nj, ni), |(j, i)| {
        m[[j, i]]
            || (i > 0 && m[[j, i - 1]])
            || (i + 1 < ni && m[[j, i + 1]])
            || (j > 0 && m[[j - 1, i]])
            || (j + 1 < nj && m[[j + 1, i]])
    })
}

/// Pixels reachable from the border through non-`wall` pixels (4-connected).
fn flood_from_border(wall: &Array2<bool>) -> Array2<bool> {
    let (nj, ni) = wall.dim();
    let mut seen = Array2::<bool>::from_elem((nj, ni), false);
    let mut stack = Vec::new();
    for j in 0..nj {
        for i in [0, ni - 1] {
            stack.push((j, i));
        }
    }
    for i in 0..ni {
        for j in [0, nj - 1] {
            stack.push((j, i));
        }
    }
    while let Some((j, i)) = stack.pop() {
        if seen[[j, i]] || wall[[j, i]] {
            continue;
        }
        seen[[j, i]] = true;
        if i > 0 {
            stack.push((j, i - 1));
        }
        if i + 1 < ni {
            stack.push((j, i + 1));
        }
        if j > 0 {
            stack.push((j - 1, i));
        }
        if j + 1 < nj {
            stack.push((j + 1, i));
        }
    }
    seen
}

/// Distance (mm) from each cavity voxel to the nearest non-cavity voxel: two-pass chamfer
/// over the 26-neighbourhood with the grid's spacings (within a few % of Euclidean).
fn chamfer(m: &Array3<bool>, sp: [f64; 3]) -> Array3<f32> {
    let (nk, nj, ni) = m.dim();
    let big = 1e6f32;
    let mut d = m.mapv(|c| if c { big } else { 0.0 });
    let mut offs = Vec::new();
    for dk in -1i64..=1 {
        for dj in -1i64..=1 {
            for di in -1i64..=1 {
                if (dk, dj, di) != (0, 0, 0) {
                    let w = ((dk as f64 * sp[2]).powi(2) + (dj as f64 * sp[1]).powi(2) + (di as f64 * sp[0]).powi(2))
                        .sqrt();
                    offs.push((dk, dj, di, w as f32));
                }
            }
        }
    }
    let forward: Vec<_> = offs.iter().copied().filter(|(dk, dj, di, _)| (*dk, *dj, *di) < (0, 0, 0)).collect();
    let backward: Vec<_> = offs.iter().copied().filter(|(dk, dj, di, _)| (*dk, *dj, *di) > (0, 0, 0)).collect();
    let at = |k: usize, j: usize, i: usize, o: &(i64, i64, i64, f32)| -> Option<(usize, usize, usize)> {
        let (a, b, c) = (k as i64 + o.0, j as i64 + o.1, i as i64 + o.2);
        (a >= 0 && b >= 0 && c >= 0 && a < nk as i64 && b < nj as i64 && c < ni as i64)
            .then_some((a as usize, b as usize, c as usize))
    };
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if d[[k, j, i]] > 0.0 {
                    let mut best = d[[k, j, i]];
                    for o in &forward {
                        if let Some(ix) = at(k, j, i, o) {
                            best = best.min(d[ix] + o.3);
                        }
                    }
                    d[[k, j, i]] = best;
                }
            }
        }
    }
    for k in (0..nk).rev() {
        for j in (0..nj).rev() {
            for i in (0..ni).rev() {
                if d[[k, j, i]] > 0.0 {
                    let mut best = d[[k, j, i]];
                    for o in &backward {
                        if let Some(ix) = at(k, j, i, o) {
                            best = best.min(d[ix] + o.3);
                        }
                    }
                    d[[k, j, i]] = best;
                }
            }
        }
    }
    // Voxels outside the grid count as outside the cavity: a cavity touching the edge of
    // the field is shallow there.
    d
}

/// Inserts lesions per `spec` into `volume`.
pub fn insert(volume: &Volume, source: &str, spec: &CaseSpec) -> Result<Case, String> {
    insert_with(&VoxelAnatomy::new(volume)?, source, spec)
}

/// Inserts lesions per `spec` into the scan `anat` was built from (build it once for many
/// cases: finding the cavity is the slow part).
pub fn insert_with(anat: &VoxelAnatomy, source: &str, spec: &CaseSpec) -> Result<Case, String> {
    let volume = anat.volume;
    let mut rng = Rng::new(spec.seed);
    let mut kinds = Vec::new();
    if !rng.chance(spec.p_none) {
        let pool: Vec<crate::Kind> = if spec.kinds.is_empty() { crate::Kind::ALL.to_vec() } else { spec.kinds.clone() };
        for _ in 0..1 + rng.below(spec.max_lesions.max(1)) {
            kinds.push(pool[rng.below(pool.len())]);
        }
    }
    let mut lrng = rng.fork(1);
    let lesions: Vec<Lesion> = kinds.iter().filter_map(|k| Lesion::place(*k, anat, &mut lrng, spec.size)).collect();
    let sigma = noise_sigma(volume, anat);
    let mut data = volume.data.to_owned();
    let (nk, nj, ni) = data.dim();
    let mut labels = Array3::<u8>::zeros((nk, nj, ni));
    let mut instances = Array3::<u8>::zeros((nk, nj, ni));
    let mut touched = Array3::<bool>::from_elem((nk, nj, ni), false);
    let sp = volume.spacing();
    let ns = (sp[2] / 1.25).ceil().clamp(1.0, 8.0) as usize;
    let mut nrng = rng.fork(2);
    for (n, l) in lesions.iter().enumerate() {
        let (lo, hi) = l.bbox;
        let (mut vlo, mut vhi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for c in 0..8 {
            let p = [0, 1, 2].map(|d| if c >> d & 1 == 1 { hi[d] } else { lo[d] });
            let v = volume.patient_to_voxel(p);
            for d in 0..3 {
                vlo[d] = vlo[d].min(v[d]);
                vhi[d] = vhi[d].max(v[d]);
            }
        }
        let dims = [ni, nj, nk];
        let r = |d: usize| (vlo[d].floor().max(0.0) as usize)..=(vhi[d].ceil().min((dims[d] - 1) as f64) as usize);
        for k in r(2) {
            for j in r(1) {
                for i in r(0) {
                    let (mut blood, mut oedema) = (0usize, 0usize);
                    for s in 0..ns {
                        let dk = (s as f64 + 0.5) / ns as f64 - 0.5;
                        let p = volume.voxel_to_patient([i as f64, j as f64, k as f64 + dk]);
                        let (t, _) = anat.at(p);
                        match l.hit(p, t, anat.depth(p)) {
                            Hit::Blood => blood += 1,
                            Hit::Oedema => oedema += 1,
                            Hit::None => {}
                        }
                    }
                    if blood + oedema == 0 {
                        continue;
                    }
                    let orig = volume.data[[k, j, i]];
                    let fb = blood as f32 / ns as f32;
                    let fo = oedema as f32 / ns as f32;
                    let noise = (nrng.normal() * sigma) as f32;
                    let v = (1.0 - fb - fo) * orig + fb * (l.hu + noise) + fo * (l.oedema_hu + noise);
                    data[[k, j, i]] = v.round();
                    touched[[k, j, i]] = true;
                    if 2 * blood >= ns {
                        labels[[k, j, i]] = l.kind.label();
                        instances[[k, j, i]] = n as u8 + 1;
                    }
                }
            }
        }
    }
    let infos = lesion_infos(&lesions, &instances, &volume.affine);
    let out = Volume::new(data, volume.affine, volume.source.clone()).map_err(|e| e.to_string())?;
    Ok(Case { seed: spec.seed, source: source.to_string(), volume: out, labels, instances, touched, lesions: infos })
}

/// The scan's noise: robust spread of differences between horizontally adjacent
/// parenchyma voxels, divided by sqrt(2).
fn noise_sigma(volume: &Volume, anat: &VoxelAnatomy) -> f64 {
    let mut diffs = Vec::new();
    for ((k, j, i), c) in anat.cavity.indexed_iter() {
        if *c && i + 1 < anat.cavity.dim().2 && anat.cavity[[k, j, i + 1]] && diffs.len() < 100_000 && (i + j) % 5 == 0
        {
            let (a, b) = (volume.data[[k, j, i]], volume.data[[k, j, i + 1]]);
            if (20.0..60.0).contains(&a) && (20.0..60.0).contains(&b) {
                diffs.push((a - b).abs() as f64);
            }
        }
    }
    if diffs.is_empty() {
        return 4.0;
    }
    diffs.sort_by(|a, b| a.total_cmp(b));
    // Median of |N(0, 2 s^2)| is 0.6745 * sqrt(2) * s.
    diffs[diffs.len() / 2] / (0.6745 * 2f64.sqrt())
}
