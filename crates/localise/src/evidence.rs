//! The one image measure of fusion: how much blood-density tissue a candidate box holds,
//! used only to choose among candidate boxes (crate docs, rule 3).
//!
//! A voxel counts when the mean of its 3 x 3 x 3 neighbourhood is acute-blood density
//! ([`BLOOD_HU`]) and no neighbour is bone or calcification (above [`DENSE_HU`]): the mean
//! keeps grey-matter noise (about 40 HU, a few HU of noise) out, and the neighbour test the
//! partial-volume shell where brain meets the skull.

use ichscan_slices::Canonical;

/// Acute blood, HU (clotted 50-90; a few HU of margin for noise).
pub const BLOOD_HU: (f32, f32) = (52.0, 95.0);
/// Bone, calcification, contrast.
pub const DENSE_HU: f32 = 150.0;

/// Blood-like volume in mL inside the patient box `[lo, hi]` (LPS mm).
pub fn blood_ml(c: &Canonical, lo: [f64; 3], hi: [f64; 3]) -> f64 {
    let dims = c.dims();
    let range = |a: usize| {
        let first = c.index_of(a, lo[a]).ceil().max(1.0) as usize;
        let last = (c.index_of(a, hi[a]).floor() as isize).min(dims[a] as isize - 2);
        (first, last)
    };
    let (ri, rj, rk) = (range(0), range(1), range(2));
    if ri.1 < ri.0 as isize || rj.1 < rj.0 as isize || rk.1 < rk.0 as isize {
        return 0.0;
    }
    let d = &c.data;
    let mut n = 0usize;
    for k in rk.0..=rk.1 as usize {
        for j in rj.0..=rj.1 as usize {
            for i in ri.0..=ri.1 as usize {
                let v = d[[k, j, i]];
                if v < BLOOD_HU.0 - 20.0 || v > DENSE_HU {
                    continue; // cheap rejection before the neighbourhood
                }
                let (mut sum, mut dense) = (0.0f32, false);
                for dk in 0..3 {
                    for dj in 0..3 {
                        for di in 0..3 {
                            let w = d[[k + dk - 1, j + dj - 1, i + di - 1]];
                            dense |= w > DENSE_HU;
                            sum += w;
                        }
                    }
                }
                let mean = sum / 27.0;
                if !dense && mean >= BLOOD_HU.0 && mean <= BLOOD_HU.1 {
                    n += 1;
                }
            }
        }
    }
    n as f64 * c.spacing.iter().product::<f64>() / 1000.0
}
