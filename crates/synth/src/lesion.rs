//! The five haemorrhage types, their shapes and densities, placed on any [`Anatomy`].
//!
//! * epidural (EDH): a biconvex lens against the inner table — the cavity cut by a sphere
//!   whose cap reaches `thickness` deep; its footprint stays small, as sutures bound it;
//! * subdural (SDH): a crescent along the inner table, thickest at its centre and thinning
//!   to nothing at the rim, spread wide (it crosses sutures) but not across the midline;
//! * intraparenchymal (IPH): an irregular blob in brain tissue, optionally ringed by
//!   low-density oedema (which is not haemorrhage and not in the mask);
//! * intraventricular (IVH): blood layering in the dependent (posterior, for a supine
//!   patient) part of a ventricle;
//! * subarachnoid (SAH): thin hyperdense filling of the CSF spaces (sulci, cisterns) in a
//!   region.
//!
//! Acute blood is 50-90 HU; subarachnoid blood, thin and mixed with CSF, 45-70 HU.

use ichscan_geometry::affine::{add, dot, norm, scale, sub};
use ichscan_geometry::Vec3;
use serde::{Deserialize, Serialize};

use crate::rng::{Noise, Rng};
use crate::{Anatomy, Tissue};

/// Haemorrhage types; the discriminant is the label in masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Epidural = 1,
    Subdural = 2,
    Subarachnoid = 3,
    Intraparenchymal = 4,
    Intraventricular = 5,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::Epidural, Kind::Subdural, Kind::Subarachnoid, Kind::Intraparenchymal, Kind::Intraventricular];

    pub fn label(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Epidural => "epidural",
            Kind::Subdural => "subdural",
            Kind::Subarachnoid => "subarachnoid",
            Kind::Intraparenchymal => "intraparenchymal",
            Kind::Intraventricular => "intraventricular",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| k.name() == s || k.short() == s)
    }

    pub fn short(self) -> &'static str {
        match self {
            Kind::Epidural => "edh",
            Kind::Subdural => "sdh",
            Kind::Subarachnoid => "sah",
            Kind::Intraparenchymal => "iph",
            Kind::Intraventricular => "ivh",
        }
    }
}

#[derive(Debug, Clone)]
enum Shape {
    Lens { centre: Vec3, radius: f64 },
    Crescent { centre: Vec3, dir: Vec3, half_angle: f64, thickness: f64, side: f64 },
    Blob { centre: Vec3, radius: f64, noise: Noise, rim_mm: f64 },
    Layer { centre: Vec3, radius: f64, down: Vec3, level: f64 },
    Sulcal { centre: Vec3, radius: f64 },
}

/// One placed haemorrhage.
#[derive(Debug, Clone)]
pub struct Lesion {
    pub kind: Kind,
    pub hu: f32,
    /// HU of the oedema rim (IPH only).
    pub oedema_hu: f32,
    shape: Shape,
    /// Patient-space bounding box of everything the lesion can touch.
    pub bbox: (Vec3, Vec3),
}

/// What a point is, with respect to a lesion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    None,
    Blood,
    Oedema,
}

impl Lesion {
    /// Classifies a patient point given the anatomy there.
    pub fn hit(&self, p: Vec3, tissue: Tissue, depth: f64) -> Hit {
        let (lo, hi) = self.bbox;
        if (0..3).any(|d| p[d] < lo[d] || p[d] > hi[d]) {
            return Hit::None;
        }
        let in_cavity = depth >= 0.0 && !matches!(tissue, Tissue::Bone | Tissue::Outside | Tissue::Scalp);
        if !in_cavity {
            return Hit::None;
        }
        let yes = |b: bool| if b { Hit::Blood } else { Hit::None };
        match &self.shape {
            Shape::Lens { centre, radius } => yes(norm(sub(p, *centre)) < *radius),
            Shape::Crescent { centre, dir, half_angle, thickness, side } => {
                let v = sub(p, *centre);
                let n = norm(v);
                if n < 1e-6 || (*side != 0.0 && (p[0] - centre[0]) * side < 0.0) {
                    return Hit::None;
                }
                let th = (dot(v, *dir) / n).clamp(-1.0, 1.0).acos();
                if th >= *half_angle {
                    return Hit::None;
                }
                let t = thickness * (std::f64::consts::FRAC_PI_2 * th / half_angle).cos();
                yes(depth < t && !matches!(tissue, Tissue::Falx | Tissue::Calcification))
            }
            Shape::Blob { centre, radius, noise, rim_mm } => {
                if !matches!(tissue, Tissue::Parenchyma | Tissue::Csf) {
                    return Hit::None;
                }
                let r = radius * (1.0 + 0.35 * noise.at(p));
                let d = norm(sub(p, *centre));
                if d < r {
                    Hit::Blood
                } else if d < r + rim_mm && tissue == Tissue::Parenchyma {
                    Hit::Oedema
                } else {
                    Hit::None
                }
            }
            Shape::Layer { centre, radius, down, level } => {
                let v = sub(p, *centre);
                yes(tissue == Tissue::Ventricle && norm(v) < *radius && dot(v, *down) > *level)
            }
            Shape::Sulcal { centre, radius } => yes(tissue == Tissue::Csf && norm(sub(p, *centre)) < *radius),
        }
    }

    /// Places a lesion of `kind` on `anat`, sized by `scale` (1 = typical).
    pub fn place(kind: Kind, anat: &dyn Anatomy, rng: &mut Rng, size: f64) -> Option<Lesion> {
        let c0 = anat.cavity_centre();
        let hu = rng.range(50.0, 90.0) as f32;
        let cube = |c: Vec3, r: f64| ([c[0] - r, c[1] - r, c[2] - r], [c[0] + r, c[1] + r, c[2] + r]);
        let lesion = match kind {
            Kind::Epidural | Kind::Subdural => {
                // A direction over the convexity (not through the skull base).
                let mut u = rng.unit();
                u[2] = u[2].abs() * 0.8 + 0.1;
                let u = scale(u, 1.0 / norm(u));
                let s = surface(anat, c0, u)?;
                if kind == Kind::Epidural {
                    let foot = rng.range(14.0, 30.0) * size.sqrt();
                    let t = rng.range(5.0, 18.0) * size.sqrt();
                    let radius = (foot * foot + t * t) / (2.0 * t);
                    let centre = add(s, scale(u, radius - t));
                    Lesion { kind, hu, oedema_hu: 0.0, shape: Shape::Lens { centre, radius }, bbox: cube(s, foot + t) }
                } else {
                    let half_angle = rng.range(30.0, 60.0).to_radians() * size.sqrt().min(1.3);
                    let thickness = rng.range(3.0, 14.0) * size.sqrt();
                    let side = if u[0].abs() > 0.2 { u[0].signum() } else { 0.0 };
                    let reach = norm(sub(s, c0)) * (half_angle.sin() + 0.1) + thickness;
                    Lesion {
                        kind,
                        hu,
                        oedema_hu: 0.0,
                        shape: Shape::Crescent { centre: c0, dir: u, half_angle, thickness, side },
                        bbox: cube(s, reach),
                    }
                }
            }
            Kind::Intraparenchymal => {
                let centre = find(anat, rng, |t, d| t == Tissue::Parenchyma && d > 18.0)?;
                let radius = rng.range(5.0, 20.0) * size.cbrt();
                let rim_mm = if rng.chance(0.6) { rng.range(2.0, 6.0) } else { 0.0 };
                Lesion {
                    kind,
                    hu,
                    oedema_hu: anat.parenchyma_hu() - rng.range(8.0, 14.0) as f32,
                    shape: Shape::Blob {
                        centre,
                        radius,
                        noise: Noise::new(rng.next_u64(), 1.0 / (radius * 0.8)),
                        rim_mm,
                    },
                    bbox: cube(centre, radius * 1.4 + rim_mm + 1.0),
                }
            }
            Kind::Intraventricular => {
                let centre = find(anat, rng, |t, _| t == Tissue::Ventricle)?;
                let radius = rng.range(10.0, 25.0) * size.cbrt();
                Lesion {
                    kind,
                    hu,
                    oedema_hu: 0.0,
                    shape: Shape::Layer { centre, radius, down: anat.down(), level: rng.range(-4.0, 2.0) },
                    bbox: cube(centre, radius),
                }
            }
            Kind::Subarachnoid => {
                let centre = find(anat, rng, |t, d| t == Tissue::Csf && d > 2.0 && d < 25.0)?;
                let radius = rng.range(14.0, 32.0) * size.cbrt();
                Lesion {
                    kind,
                    hu: rng.range(45.0, 70.0) as f32,
                    oedema_hu: 0.0,
                    shape: Shape::Sulcal { centre, radius },
                    bbox: cube(centre, radius),
                }
            }
        };
        Some(lesion)
    }
}

/// The inner-table point on the ray from `c` along `u`.
fn surface(anat: &dyn Anatomy, c: Vec3, u: Vec3) -> Option<Vec3> {
    let mut t = 0.0;
    while t < 200.0 {
        let p = add(c, scale(u, t));
        if anat.depth(p) < 0.0 {
            return Some(add(c, scale(u, (t - 0.5).max(0.0))));
        }
        t += 0.5;
    }
    None
}

/// A random point in the cavity box satisfying `want(tissue, depth)`.
fn find(anat: &dyn Anatomy, rng: &mut Rng, want: impl Fn(Tissue, f64) -> bool) -> Option<Vec3> {
    let (lo, hi) = anat.cavity_box();
    for _ in 0..20000 {
        let p = [rng.range(lo[0], hi[0]), rng.range(lo[1], hi[1]), rng.range(lo[2], hi[2])];
        let d = anat.depth(p);
        if d >= 0.0 && want(anat.at(p).0, d) {
            return Some(p);
        }
    }
    None
}
