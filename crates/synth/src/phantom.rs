//! A procedural head in Hounsfield units, randomised per seed.
//!
//! The model lives in a head frame (mm; x to the left, y posterior, z superior, origin at
//! the centre of the cranial cavity) and is placed in the scanner by a random rigid
//! transform. Every structure is a simple implicit shape, so any point can be classified
//! exactly and a lesion's true extent is known. Densities follow published CT ranges:
//! scalp 20-60, cortical bone 1500-2000 with a diploe of 400-800, grey matter 35-45,
//! white matter 22-32, CSF 0-15, calcifications 80-400 HU.

use ichscan_geometry::Vec3;

use crate::rng::{Noise, Rng};
use crate::Tissue;

/// Axis-aligned ellipsoid: `|(p - c) / a| < 1`.
#[derive(Debug, Clone, Copy)]
pub struct Ellipsoid {
    pub c: Vec3,
    pub a: Vec3,
}

impl Ellipsoid {
    /// Normalised radius: < 1 inside.
    #[inline]
    pub fn r(&self, p: Vec3) -> f64 {
        let d = [(p[0] - self.c[0]) / self.a[0], (p[1] - self.c[1]) / self.a[1], (p[2] - self.c[2]) / self.a[2]];
        (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
    }

    #[inline]
    pub fn inside(&self, p: Vec3) -> bool {
        self.r(p) < 1.0
    }

    /// Approximate distance inside the surface in mm (positive inside): first-order
    /// estimate (1 - r) / |grad r|, accurate near the surface where it matters.
    pub fn depth(&self, p: Vec3) -> f64 {
        let d = [(p[0] - self.c[0]) / self.a[0], (p[1] - self.c[1]) / self.a[1], (p[2] - self.c[2]) / self.a[2]];
        let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt().max(1e-9);
        let g = [d[0] / self.a[0] / r, d[1] / self.a[1] / r, d[2] / self.a[2] / r];
        (1.0 - r) / (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt().max(1e-9)
    }

    pub fn grown(&self, mm: f64) -> Ellipsoid {
        Ellipsoid { c: self.c, a: [self.a[0] + mm, self.a[1] + mm, self.a[2] + mm] }
    }
}

/// Densities of one case.
#[derive(Debug, Clone)]
pub struct Densities {
    pub scalp: f32,
    pub cortical: f32,
    pub diploe: f32,
    pub gm: f32,
    pub wm: f32,
    pub csf: f32,
    pub falx: f32,
    pub fat: f32,
    pub eye: f32,
    pub brainstem: f32,
    pub cerebellum: f32,
    pub pineal: f32,
    pub plexus: f32,
    pub headrest: f32,
}

/// One randomised head.
#[derive(Debug, Clone)]
pub struct HeadModel {
    /// Cranial cavity (inner table).
    pub cavity: Ellipsoid,
    pub skull_mm: f64,
    pub scalp_mm: f64,
    /// Subarachnoid CSF film over the brain, mm.
    pub csf_mm: f64,
    /// Cortical ribbon thickness, mm.
    pub cortex_mm: f64,
    pub lateral: [Ellipsoid; 2],
    pub occipital: [Ellipsoid; 2],
    pub temporal: [Ellipsoid; 2],
    pub third: Ellipsoid,
    pub fourth: Ellipsoid,
    pub deep_gm: [Ellipsoid; 2],
    pub brainstem: Ellipsoid,
    pub eyes: [Ellipsoid; 2],
    pub sinuses: Vec<Ellipsoid>,
    pub mastoids: [Ellipsoid; 2],
    pub pineal: Option<Ellipsoid>,
    pub plexus: Vec<Ellipsoid>,
    pub neck: Ellipsoid,
    pub headrest: bool,
    pub d: Densities,
    pub sulci: Noise,
    pub folia: Noise,
    pub air_cells: Noise,
}

impl HeadModel {
    pub fn random(rng: &mut Rng) -> Self {
        let s = rng.range(0.9, 1.07);
        let cavity = Ellipsoid {
            c: [0.0; 3],
            a: [66.0 * s * rng.range(0.95, 1.05), 84.0 * s * rng.range(0.95, 1.05), 68.0 * s * rng.range(0.95, 1.05)],
        };
        let v = rng.range(0.7, 1.6); // ventricle size: young to atrophic
        let sym = |e: Ellipsoid| [e, Ellipsoid { c: [-e.c[0], e.c[1], e.c[2]], a: e.a }];
        let lateral = sym(Ellipsoid { c: [9.0 * v.sqrt(), -6.0, 14.0], a: [4.5 * v, 26.0, 7.0 * v.sqrt()] });
        let occipital = sym(Ellipsoid { c: [17.0, 26.0, 8.0], a: [4.0 * v, 12.0, 5.0 * v.sqrt()] });
        let temporal = sym(Ellipsoid { c: [28.0, 2.0, -18.0], a: [3.0 * v, 13.0, 3.5 * v] });
        let gm = rng.range(35.0, 45.0) as f32;
        let wm = (rng.range(22.0, 32.0) as f32).min(gm - 6.0);
        let d = Densities {
            scalp: rng.range(25.0, 55.0) as f32,
            cortical: rng.range(1500.0, 2000.0) as f32,
            diploe: rng.range(400.0, 800.0) as f32,
            gm,
            wm,
            csf: rng.range(2.0, 12.0) as f32,
            falx: rng.range(40.0, 60.0) as f32,
            fat: rng.range(-110.0, -70.0) as f32,
            eye: rng.range(5.0, 20.0) as f32,
            brainstem: (wm + 3.0).min(gm),
            cerebellum: (gm + wm) / 2.0 + 2.0,
            pineal: rng.range(100.0, 400.0) as f32,
            plexus: rng.range(80.0, 250.0) as f32,
            headrest: rng.range(150.0, 350.0) as f32,
        };
        let pineal = rng.chance(0.7).then(|| Ellipsoid { c: [0.0, 22.0, 2.0], a: [rng.range(1.5, 3.5); 3] });
        let mut plexus = Vec::new();
        if rng.chance(0.7) {
            let r = rng.range(1.5, 3.5);
            plexus.extend(sym(Ellipsoid { c: [17.0, 24.0, 9.0], a: [r; 3] }));
        }
        let mut sinuses = vec![
            Ellipsoid { c: [0.0, -cavity.a[1] - 2.0, 22.0], a: [12.0, 6.0, 10.0] },
            Ellipsoid { c: [0.0, -38.0, -cavity.a[2] + 14.0], a: [12.0, 16.0, 9.0] },
        ];
        if rng.chance(0.8) {
            sinuses.extend(sym(Ellipsoid { c: [25.0, -58.0, -cavity.a[2] - 12.0], a: [14.0, 15.0, 14.0] }));
        }
        HeadModel {
            cavity,
            skull_mm: rng.range(5.5, 8.0),
            scalp_mm: rng.range(4.0, 7.0),
            csf_mm: rng.range(1.0, 2.5) * v.sqrt(),
            cortex_mm: rng.range(2.5, 3.5),
            lateral,
            occipital,
            temporal,
            third: Ellipsoid { c: [0.0, 4.0, 0.0], a: [1.5 * v, 12.0, 9.0] },
            fourth: Ellipsoid { c: [0.0, 36.0, -40.0], a: [6.0, 3.5, 6.0] },
            deep_gm: sym(Ellipsoid { c: [17.0, 2.0, 2.0], a: [9.0, 16.0, 10.0] }),
            brainstem: Ellipsoid { c: [0.0, 18.0, -40.0], a: [11.0, 11.0, 30.0] },
            eyes: sym(Ellipsoid { c: [31.0, -cavity.a[1] + 14.0, -cavity.a[2] + 8.0], a: [12.0; 3] }),
            sinuses,
            mastoids: sym(Ellipsoid { c: [cavity.a[0] - 6.0, 14.0, -cavity.a[2] + 20.0], a: [9.0, 10.0, 10.0] }),
            pineal,
            plexus,
            neck: Ellipsoid { c: [0.0, 10.0, -cavity.a[2] - 60.0], a: [55.0, 60.0, 80.0] },
            headrest: rng.chance(0.8),
            d,
            sulci: Noise::new(rng.next_u64(), 1.0 / 9.0),
            folia: Noise::new(rng.next_u64(), 1.0 / 2.5),
            air_cells: Noise::new(rng.next_u64(), 1.0 / 2.0),
        }
    }

    /// Floor of the cranial cavity (skull base), by y: anterior and middle fossae higher,
    /// posterior fossa lower.
    #[inline]
    fn floor_z(&self, y: f64) -> f64 {
        let a = self.cavity.a[2];
        let t = 1.0 / (1.0 + (-(y - 8.0) / 7.0).exp());
        -a * 0.55 - a * 0.35 * t
    }

    /// Tentorium height (the cerebellum is below it, behind y = 5).
    #[inline]
    fn tentorium_z(&self, y: f64) -> f64 {
        -12.0 - 0.35 * (y - 10.0)
    }

    /// Depth below the inner table, mm (negative outside the cavity).
    pub fn depth(&self, q: Vec3) -> f64 {
        self.cavity.depth(q).min(q[2] - self.floor_z(q[1]))
    }

    fn in_ventricle(&self, q: Vec3) -> bool {
        self.lateral.iter().chain(&self.occipital).chain(&self.temporal).any(|e| e.inside(q))
            || self.third.inside(q)
            || self.fourth.inside(q)
    }

    /// Tissue class and HU at head-frame point `q`, without lesions or noise.
    pub fn sample(&self, q: Vec3) -> (Tissue, f32) {
        let d = &self.d;
        let outer = self.cavity.grown(self.skull_mm + self.scalp_mm);
        let r_out = outer.r(q);
        if r_out >= 1.0 {
            // Outside the skull and scalp: face, neck, headrest or air.
            if self.headrest {
                let rest = outer.grown(3.0);
                let rr = rest.r(q);
                if q[1] > outer.a[1] * 0.45 && rr < 1.0 + 4.0 / rest.a[1] && rr >= 1.0 {
                    return (Tissue::Other, d.headrest);
                }
            }
            if q[2] < self.floor_z(q[1]) && self.neck.inside(q) {
                return (Tissue::Other, d.scalp + 5.0);
            }
            return (Tissue::Outside, -1000.0);
        }
        let depth = self.depth(q);
        if depth < 0.0 {
            // Between the cavity and the scalp's surface: bone, or the face below the skull base.
            let depth_outer = outer.depth(q);
            if depth_outer < self.scalp_mm {
                return (Tissue::Scalp, d.scalp);
            }
            for e in &self.eyes {
                if e.inside(q) {
                    return (Tissue::Other, d.eye);
                }
                if e.grown(5.0).inside(q) {
                    return (Tissue::Other, d.fat);
                }
            }
            for e in &self.sinuses {
                if e.inside(q) {
                    return (Tissue::Outside, -1000.0);
                }
            }
            for e in &self.mastoids {
                if e.inside(q) {
                    let cell = self.air_cells.at(q) > 0.0;
                    return (Tissue::Bone, if cell { -900.0 } else { d.diploe });
                }
            }
            // The skull base is a plate about 8 mm thick under the cavity; below it are the
            // face (anterior) and the neck muscles.
            if q[2] < self.floor_z(q[1]) - 8.0 {
                return (Tissue::Other, d.scalp + 8.0);
            }
            // Skull: cortical tables 1.5-2 mm each side, diploe between.
            let from_inner = -depth;
            let from_outer = depth_outer - self.scalp_mm;
            let hu = if from_inner < 1.6 || from_outer < 2.0 { d.cortical } else { d.diploe };
            return (Tissue::Bone, hu);
        }
        // Inside the cranial cavity.
        for e in &self.plexus {
            if e.inside(q) {
                return (Tissue::Calcification, d.plexus);
            }
        }
        if let Some(p) = &self.pineal {
            if p.inside(q) {
                return (Tissue::Calcification, d.pineal);
            }
        }
        if self.in_ventricle(q) {
            return (Tissue::Ventricle, d.csf);
        }
        let x = q[0].abs();
        let above_tent = q[2] > self.tentorium_z(q[1]) || q[1] < 5.0;
        // The falx hangs from the vertex; above the corpus callosum in the middle, down to
        // the skull base at the front and back.
        let fissure = above_tent && (q[2] > 12.0 || q[1].abs() > 38.0) && q[2] > -20.0;
        if fissure && x < 0.6 {
            return (Tissue::Falx, d.falx);
        }
        if !above_tent && q[0].abs() < 45.0 && (q[2] - self.tentorium_z(q[1])).abs() < 0.6 {
            return (Tissue::Falx, d.falx);
        }
        if depth < self.csf_mm || (fissure && x < 2.0) {
            return (Tissue::Csf, d.csf);
        }
        if self.brainstem.inside(q) {
            return (Tissue::Parenchyma, d.brainstem);
        }
        if !above_tent {
            // Cerebellum with folia.
            let f = self.folia.at(q);
            if f.abs() < 0.08 && depth < 25.0 {
                return (Tissue::Csf, d.csf);
            }
            return (Tissue::Parenchyma, d.cerebellum + (f as f32) * 4.0);
        }
        // Sulci: thin CSF channels reaching into the cortex, narrower with depth.
        let cortex_depth = depth - self.csf_mm;
        let sulcus = if cortex_depth < 16.0 {
            let n = self.sulci.at(q).abs();
            let width = 0.16 * (1.0 - cortex_depth / 16.0);
            if n < width {
                return (Tissue::Csf, d.csf);
            }
            n - width
        } else {
            f64::INFINITY
        };
        for e in &self.deep_gm {
            if e.inside(q) {
                return (Tissue::Parenchyma, d.gm - 2.0);
            }
        }
        // The cortex follows the sulci: grey matter lines each channel.
        let in_cortex = cortex_depth < self.cortex_mm || sulcus < 0.12;
        (Tissue::Parenchyma, if in_cortex { d.gm } else { d.wm })
    }

    /// The head-frame box the head occupies (for choosing the scan range).
    pub fn extent(&self) -> (Vec3, Vec3) {
        let o = self.cavity.grown(self.skull_mm + self.scalp_mm);
        ([-o.a[0], -o.a[1], self.neck.c[2]], [o.a[0], o.a[1] + 8.0, o.a[2]])
    }
}
