//! Grouping frames into series, sorting and de-duplicating slices, and choosing the
//! series to analyse.

use std::collections::BTreeMap;

use ichscan_geometry::affine::cross;
use ichscan_geometry::{PlaneStack, Vec3};
use serde::Serialize;

use super::header::FrameHeader;
use crate::error::{ErrorKind, LoadError, Result};

/// Frames of one series with one orientation and matrix size, in increasing position
/// along the plane normal, duplicates removed.
#[derive(Debug, Clone)]
pub struct SeriesGroup {
    /// The SeriesInstanceUID, with `#2`, `#3`, ... for further parts of a series that was
    /// split because its orientation or size changed (a localizer, say).
    pub id: String,
    pub frames: Vec<FrameHeader>,
    pub duplicates: usize,
    pub stack: Option<PlaneStack>,
}

/// What `ichscan info` shows of each series; the JSON schema of `series[]`.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSummary {
    pub series_uid: String,
    pub description: String,
    pub modality: String,
    pub n_slices: usize,
    pub rows: usize,
    pub columns: usize,
    /// axial, coronal, sagittal or oblique, from the image plane normal.
    pub orientation: String,
    pub localizer: bool,
    pub slice_thickness_mm: Option<f64>,
    /// Median distance between slices along the normal.
    pub slice_step_mm: Option<f64>,
    /// First to last slice along the normal.
    pub extent_mm: f64,
    pub kernel: String,
    /// soft, sharp or unknown.
    pub kernel_class: String,
    pub contrast: bool,
    pub gantry_tilt_deg: f64,
    pub slice_spacing_uniform: bool,
    pub missing_slices: usize,
    pub duplicate_slices: usize,
    pub transfer_syntax: String,
    pub selected: bool,
    pub reason: String,
}

fn iop_dirs(iop: &[f64; 6]) -> (Vec3, Vec3) {
    ([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]])
}

fn position(f: &FrameHeader) -> f64 {
    let (r, c) = iop_dirs(&f.iop);
    PlaneStack::sort_key(r, c, f.ipp)
}

/// Groups frames by series, orientation and size; sorts each group along its normal and
/// drops duplicate slices. Returns groups largest first within a series.
pub fn group(frames: Vec<FrameHeader>, notes: &mut Vec<String>) -> Vec<SeriesGroup> {
    let mut by_key: BTreeMap<(String, String), Vec<FrameHeader>> = BTreeMap::new();
    for f in frames {
        // Orientation rounded so float noise in the files does not split a series.
        let key = format!(
            "{}x{}|{}",
            f.rows,
            f.cols,
            f.iop.iter().map(|v| format!("{:.3}", v + 0.0)).collect::<Vec<_>>().join(",")
        );
        by_key.entry((f.series_uid.clone(), key)).or_default().push(f);
    }
    let mut per_series: BTreeMap<String, Vec<Vec<FrameHeader>>> = BTreeMap::new();
    for ((uid, _), fs) in by_key {
        per_series.entry(uid).or_default().push(fs);
    }
    let mut out = Vec::new();
    for (uid, mut parts) in per_series {
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for (n, mut fs) in parts.into_iter().enumerate() {
            let id = if n == 0 { uid.clone() } else { format!("{uid}#{}", n + 1) };
            fs.sort_by(|a, b| {
                position(a)
                    .total_cmp(&position(b))
                    .then(a.instance_number.cmp(&b.instance_number))
                    .then(a.file.cmp(&b.file))
            });
            let before = fs.len();
            fs.dedup_by(|b, a| {
                // `a` is the kept earlier frame: same place along the normal and in plane.
                (position(a) - position(b)).abs() < 1e-3 && (0..3).all(|d| (a.ipp[d] - b.ipp[d]).abs() < 1e-3)
            });
            let duplicates = before - fs.len();
            if duplicates > 0 {
                notes.push(format!(
                    "series {id}: {duplicates} duplicate slice(s) at an already seen position dropped (kept the lowest instance number)"
                ));
            }
            let stack = make_stack(&fs).ok();
            out.push(SeriesGroup { id, frames: fs, duplicates, stack });
        }
    }
    out
}

/// The plane stack of a group's frames.
pub fn make_stack(fs: &[FrameHeader]) -> Result<PlaneStack, ichscan_geometry::GeometryError> {
    let f0 = &fs[0];
    let (r, c) = iop_dirs(&f0.iop);
    let thickness = f0.thickness.unwrap_or(1.0);
    PlaneStack::new(r, c, f0.pixel_spacing, [f0.cols, f0.rows], fs.iter().map(|f| f.ipp).collect(), thickness)
}

/// Sharp (bone, lung) reconstruction kernels blur less and show more noise: worse for
/// haemorrhage, which is a soft-tissue contrast of 30-50 HU.
pub fn kernel_class(kernel: &str) -> &'static str {
    let k = kernel.to_ascii_uppercase();
    if k.is_empty() {
        return "unknown";
    }
    const SHARP: [&str; 7] = ["BONE", "LUNG", "SHARP", "EDGE", "DETAIL", "HIGH", "ULTRA"];
    const SOFT: [&str; 6] = ["STANDARD", "SOFT", "BRAIN", "SMOOTH", "STND", "HEAD"];
    if SHARP.iter().any(|s| k.contains(s)) {
        return "sharp";
    }
    if SOFT.iter().any(|s| k.contains(s)) {
        return "soft";
    }
    // Siemens-style letter + number (H30s, Hr38, B70f, J70h): the number is sharpness.
    let digits: String = k.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u32>() {
        Ok(n) if (10..=99).contains(&n) => {
            if n >= 50 {
                "sharp"
            } else {
                "soft"
            }
        }
        _ => "unknown",
    }
}

fn orientation(iop: &[f64; 6]) -> &'static str {
    let (r, c) = iop_dirs(iop);
    let n = cross(r, c);
    let a = [n[0].abs(), n[1].abs(), n[2].abs()];
    let max = a.iter().copied().fold(0.0, f64::max);
    if max < 0.7 {
        "oblique"
    } else if a[2] == max {
        "axial"
    } else if a[1] == max {
        "coronal"
    } else {
        "sagittal"
    }
}

pub fn summarise(g: &SeriesGroup) -> SeriesSummary {
    let f0 = &g.frames[0];
    let (extent, step, uniform, missing, tilt) = match &g.stack {
        Some(s) => {
            let rep = s.spacing_report();
            let pos = s.positions();
            (
                pos[pos.len() - 1] - pos[0],
                (pos.len() > 1).then_some(rep.median_mm),
                rep.uniform,
                rep.gaps.iter().map(|g| g.1).sum(),
                s.tilt_deg(),
            )
        }
        None => (0.0, None, true, 0, 0.0),
    };
    let kernel = f0.kernel.clone();
    SeriesSummary {
        series_uid: g.id.clone(),
        description: f0.description.clone(),
        modality: f0.modality.clone(),
        n_slices: g.frames.len(),
        rows: f0.rows,
        columns: f0.cols,
        orientation: orientation(&f0.iop).to_string(),
        localizer: f0.localizer,
        slice_thickness_mm: f0.thickness,
        slice_step_mm: step,
        extent_mm: extent,
        kernel_class: kernel_class(&kernel).to_string(),
        kernel,
        contrast: f0.contrast,
        gantry_tilt_deg: tilt,
        slice_spacing_uniform: uniform,
        missing_slices: missing,
        duplicate_slices: g.duplicates,
        transfer_syntax: f0.transfer_syntax.clone(),
        selected: false,
        reason: String::new(),
    }
}

/// The selection criteria in order of importance, each "higher is better", with the words
/// that explain a win on it.
fn criteria(s: &SeriesSummary, max_extent: f64) -> Vec<(i64, &'static str)> {
    vec![
        ((s.modality == "CT") as i64, "CT"),
        ((!s.localizer) as i64, "not a localizer"),
        ((s.n_slices >= 2) as i64, "a volume (more than one slice)"),
        ((s.orientation == "axial") as i64, "axial"),
        ((s.extent_mm >= 0.75 * max_extent) as i64, "covers the head"),
        ((!s.contrast) as i64, "no contrast agent"),
        (
            match s.kernel_class.as_str() {
                "soft" => 2,
                "unknown" => 1,
                _ => 0,
            },
            "soft-tissue kernel",
        ),
        // Thinner is better; compared in 0.1 mm so rounding does not decide.
        (-((s.slice_step_mm.or(s.slice_thickness_mm).unwrap_or(99.0) * 10.0).round() as i64), "thinner slices"),
        (s.n_slices as i64, "more slices"),
    ]
}

/// Marks the chosen series in `summaries` (with reasons on every series) and returns its index.
pub fn select(summaries: &mut [SeriesSummary], wanted: Option<&str>, where_: &str) -> Result<usize> {
    let max_extent = summaries.iter().filter(|s| s.modality == "CT").map(|s| s.extent_mm).fold(0.0, f64::max);
    let keys: Vec<_> = summaries.iter().map(|s| criteria(s, max_extent)).collect();
    let chosen = if let Some(uid) = wanted {
        let i = summaries.iter().position(|s| s.series_uid == uid).ok_or_else(|| {
            let found = summaries.iter().map(|s| s.series_uid.as_str()).collect::<Vec<_>>().join(", ");
            LoadError::new(where_, ErrorKind::NoSuchSeries(uid.to_string(), found))
        })?;
        if summaries[i].modality != "CT" {
            return Err(LoadError::new(
                where_,
                ErrorKind::NoCt(format!("series {uid} is {}, not CT", summaries[i].modality)),
            ));
        }
        i
    } else {
        if !summaries.iter().any(|s| s.modality == "CT") {
            let mods: Vec<String> = summaries.iter().map(|s| format!("{} ({})", s.modality, s.series_uid)).collect();
            return Err(LoadError::new(where_, ErrorKind::NoCt(format!("found only {}", mods.join(", ")))));
        }
        let values = |i: usize| keys[i].iter().map(|k| k.0).collect::<Vec<_>>();
        (0..summaries.len()).max_by(|&a, &b| values(a).cmp(&values(b)).then(b.cmp(&a))).unwrap_or(0)
    };
    for i in 0..summaries.len() {
        let s = &summaries[i];
        summaries[i].reason = if i == chosen {
            let mut r = if wanted.is_some() {
                "chosen with --series".to_string()
            } else {
                format!(
                    "{} {}, {} slices over {:.0} mm, {}, {} kernel{}",
                    s.modality,
                    s.orientation,
                    s.n_slices,
                    s.extent_mm,
                    if s.contrast { "contrast" } else { "no contrast" },
                    s.kernel_class,
                    s.slice_step_mm.map(|t| format!(", {t:.3} mm between planes")).unwrap_or_default()
                )
            };
            if wanted.is_none() && summaries.len() > 1 {
                r.push_str("; best of the series found");
            }
            r
        } else {
            let lost = keys[chosen].iter().zip(&keys[i]).find(|(c, o)| c.0 != o.0).map(|(c, _)| c.1);
            match (wanted, lost) {
                (Some(_), _) => "not chosen: --series named another".to_string(),
                (None, Some(why)) => format!("not chosen: the chosen series is {why}"),
                (None, None) => "not chosen: equal on every criterion, the first one was taken".to_string(),
            }
        };
    }
    summaries[chosen].selected = true;
    Ok(chosen)
}

/// A series split only because its matrix size changed (same orientation) is a mixed-up
/// series, not a localizer: refuse it rather than guess, unless the user chose a part.
pub fn check_mixed_sizes(groups: &[SeriesGroup], chosen: usize, wanted: Option<&str>, where_: &str) -> Result<()> {
    if wanted.is_some() {
        return Ok(());
    }
    let g = &groups[chosen];
    let base = g.id.split('#').next().unwrap_or(&g.id);
    let same_orient: Vec<&SeriesGroup> = groups
        .iter()
        .filter(|o| o.id.split('#').next() == Some(base))
        .filter(|o| o.frames[0].iop.iter().zip(&g.frames[0].iop).all(|(a, b)| (a - b).abs() < 1e-3))
        .filter(|o| !o.frames[0].localizer)
        .collect();
    if same_orient.iter().any(|o| o.frames[0].rows != g.frames[0].rows || o.frames[0].cols != g.frames[0].cols) {
        let parts: Vec<String> = same_orient
            .iter()
            .map(|o| format!("{} has {} slice(s) of {}x{}", o.id, o.frames.len(), o.frames[0].cols, o.frames[0].rows))
            .collect();
        return Err(LoadError::new(
            where_,
            ErrorKind::MixedSizes(format!("{} (choose one with --series)", parts.join("; "))),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_classify() {
        for (k, c) in [
            ("STANDARD", "soft"),
            ("BONE", "sharp"),
            ("H30s", "soft"),
            ("B70f", "sharp"),
            ("Hr38", "soft"),
            ("", "unknown"),
            ("FC21", "soft"),
            ("XYZ", "unknown"),
        ] {
            assert_eq!(kernel_class(k), c, "{k}");
        }
    }

    #[test]
    fn orientations() {
        assert_eq!(orientation(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), "axial");
        assert_eq!(orientation(&[1.0, 0.0, 0.0, 0.0, 0.0, -1.0]), "coronal");
        assert_eq!(orientation(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]), "sagittal");
        // 18.5 degree gantry tilt is still axial.
        assert_eq!(orientation(&[1.0, 0.0, 0.0, 0.0, 0.948, -0.317]), "axial");
    }
}
