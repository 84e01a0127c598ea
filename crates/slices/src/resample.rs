//! Separable resampling along one axis of a `[k, j, i]` array, by weight tables.
//!
//! Each output sample reads the input over a footprint: linear interpolation when the
//! output is as fine as or finer than the input, an area average (a box as wide as the
//! output spacing) when coarser, so downsampling does not alias noise and thick slabs
//! average the thin slices in them. Input outside the array counts as `fill` (air), so an
//! output window that runs past the scan is padded, not stretched.

use ndarray::{Array3, ArrayView3, Axis, Zip};
use rayon::prelude::*;

/// The input taps of one output sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    pub start: usize,
    pub weights: Vec<f32>,
    /// Weight of the part of the footprint outside the input (read as `fill`).
    pub outside: f32,
}

/// Taps for output samples at fractional input indices `coords`, each with a footprint
/// of `footprint` input samples (output spacing / input spacing).
pub fn taps(n_in: usize, coords: &[f64], footprint: f64) -> Vec<Taps> {
    coords.iter().map(|&x| one(n_in, x, footprint)).collect()
}

fn one(n_in: usize, x: f64, footprint: f64) -> Taps {
    let mut pairs: Vec<(i64, f64)> = Vec::new();
    if footprint <= 1.0 {
        let t0 = x.floor();
        let f = x - t0;
        pairs.push((t0 as i64, 1.0 - f));
        if f > 0.0 {
            pairs.push((t0 as i64 + 1, f));
        }
    } else {
        // Input cell t covers [t - 0.5, t + 0.5]; the box covers [x - f/2, x + f/2].
        let (lo, hi) = (x - footprint / 2.0, x + footprint / 2.0);
        let mut t = (lo + 0.5).floor() as i64;
        while (t as f64) - 0.5 < hi {
            let overlap = (hi.min(t as f64 + 0.5) - lo.max(t as f64 - 0.5)).max(0.0);
            if overlap > 0.0 {
                pairs.push((t, overlap / footprint));
            }
            t += 1;
        }
    }
    let mut outside = 0.0;
    let inside: Vec<(usize, f64)> = pairs
        .into_iter()
        .filter_map(|(t, w)| {
            if t < 0 || t >= n_in as i64 {
                outside += w;
                None
            } else {
                Some((t as usize, w))
            }
        })
        .collect();
    match (inside.first(), inside.last()) {
        (Some(&(start, _)), Some(&(end, _))) => {
            let mut weights = vec![0f32; end - start + 1];
            for (t, w) in inside {
                weights[t - start] += w as f32;
            }
            Taps { start, weights, outside: outside as f32 }
        }
        _ => Taps { start: 0, weights: vec![], outside: 1.0 },
    }
}

/// Resamples `a` along `axis` (0 = k, 1 = j, 2 = i) with one [`Taps`] per output sample.
/// Works on whole contiguous rows or planes, so every pass streams through memory.
pub fn apply(a: ArrayView3<f32>, axis: usize, taps: &[Taps], fill: f32) -> Array3<f32> {
    let (nk, nj, ni) = a.dim();
    let n = taps.len();
    match axis {
        0 => {
            let mut out = Array3::<f32>::zeros((n, nj, ni));
            out.axis_iter_mut(Axis(0)).into_par_iter().zip(taps.par_iter()).for_each(|(mut plane, t)| {
                plane.fill(t.outside * fill);
                for (o, &w) in t.weights.iter().enumerate() {
                    if w != 0.0 {
                        Zip::from(&mut plane).and(a.index_axis(Axis(0), t.start + o)).for_each(|p, &v| *p += w * v);
                    }
                }
            });
            out
        }
        1 => {
            let mut out = Array3::<f32>::zeros((nk, n, ni));
            out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(k, mut plane)| {
                let src = a.index_axis(Axis(0), k);
                for (mut row, t) in plane.axis_iter_mut(Axis(0)).zip(taps) {
                    row.fill(t.outside * fill);
                    for (o, &w) in t.weights.iter().enumerate() {
                        if w != 0.0 {
                            Zip::from(&mut row).and(src.index_axis(Axis(0), t.start + o)).for_each(|p, &v| *p += w * v);
                        }
                    }
                }
            });
            out
        }
        _ => {
            let mut out = Array3::<f32>::zeros((nk, nj, n));
            out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(k, mut plane)| {
                for (j, mut row) in plane.axis_iter_mut(Axis(0)).enumerate() {
                    let lane = a.slice(ndarray::s![k, j, ..]);
                    let owned;
                    let src: &[f32] = match lane.as_slice() {
                        Some(s) => s,
                        None => {
                            owned = lane.to_vec();
                            &owned
                        }
                    };
                    for (o, t) in row.iter_mut().zip(taps) {
                        let src = &src[t.start..t.start + t.weights.len()];
                        let acc = t.outside * fill + t.weights.iter().zip(src).map(|(w, v)| w * v).sum::<f32>();
                        *o = acc;
                    }
                }
            });
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_taps() {
        let t = taps(4, &[1.25, 3.0, -0.5], 1.0);
        assert_eq!(t[0], Taps { start: 1, weights: vec![0.75, 0.25], outside: 0.0 });
        assert_eq!(t[1], Taps { start: 3, weights: vec![1.0], outside: 0.0 });
        // Half-way between "before the first sample" (air) and the first sample.
        assert_eq!(t[2], Taps { start: 0, weights: vec![0.5], outside: 0.5 });
    }

    #[test]
    fn box_taps_cover_the_footprint() {
        // Footprint 2.5 centred on 2.0 covers [0.75, 3.25]: cell 1 fully... by hand:
        // cell 0 [-.5,.5]: 0; cell 1 [.5,1.5]: .75; cell 2: 1; cell 3 [2.5,3.5]: .75.
        let t = one(10, 2.0, 2.5);
        assert_eq!(t.start, 1);
        let w: Vec<f32> = t.weights.iter().map(|w| w * 2.5).collect();
        assert_eq!(w, vec![0.75, 1.0, 0.75]);
        assert_eq!(t.outside, 0.0);
        let edge = one(3, 0.0, 2.0);
        // [-1, 1]: half of cell -1 (outside), all of cell 0, half of cell 1; divided by 2.
        assert_eq!((edge.start, edge.weights.clone(), edge.outside), (0, vec![0.5, 0.25], 0.25));
    }

    #[test]
    fn apply_along_each_axis_matches_weights() {
        let a = Array3::from_shape_fn((3, 4, 5), |(k, j, i)| (100 * k + 10 * j + i) as f32);
        let t = taps(5, &[0.5, 4.0], 1.0);
        let o = apply(a.view(), 2, &t, -1000.0);
        assert_eq!(o[[2, 3, 0]], 230.5);
        assert_eq!(o[[2, 3, 1]], 234.0);
        let t = taps(4, &[1.5], 1.0);
        assert_eq!(apply(a.view(), 1, &t, 0.0)[[1, 0, 2]], 117.0);
        let t = taps(3, &[2.5], 1.0);
        assert_eq!(apply(a.view(), 0, &t, -1000.0)[[0, 1, 1]], 0.5 * 211.0 + 0.5 * -1000.0);
    }
}
