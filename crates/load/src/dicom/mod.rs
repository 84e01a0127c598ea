//! DICOM series: headers of every file, series grouping and choice, pixel decoding in
//! parallel, and the geometry fix-ups (tilt, uneven spacing) through
//! [`ichscan_geometry::PlaneStack`].

pub mod header;
pub mod jpeg_lossless;
pub mod pixels;
pub mod series;

use std::collections::BTreeMap;

use ichscan_geometry::{SourceGrid, Volume};
use ndarray::Array3;
use rayon::prelude::*;

use crate::error::{ErrorKind, LoadError, Result};
use crate::input::{Listing, Source};
use crate::{LoadOptions, Scan};
use header::{FrameHeader, Parsed};

pub fn load(listing: Listing, opts: &LoadOptions, where_: &str) -> Result<Scan> {
    let mut notes = listing.notes;
    let files = listing.files;
    // Headers of every file, in parallel; non-DICOM files are noted and skipped.
    let parsed: Vec<Result<Option<Parsed>>> = files
        .par_iter()
        .enumerate()
        .map(|(i, src)| {
            let head = src.head(132)?;
            if !header::looks_like_dicom(&head) {
                return Ok(None);
            }
            header::parse(i, src).map(Some)
        })
        .collect();
    let mut frames: Vec<FrameHeader> = Vec::new();
    let mut skipped = Vec::new();
    for (src, p) in files.iter().zip(parsed) {
        match p? {
            Some(Parsed::Frames(f)) => frames.extend(f),
            Some(Parsed::Skip(note)) => notes.push(note),
            None => skipped.push(file_name(src)),
        }
    }
    if !skipped.is_empty() {
        let shown: Vec<_> = skipped.iter().take(5).cloned().collect();
        notes.push(format!(
            "skipped {} non-DICOM file(s): {}{}",
            skipped.len(),
            shown.join(", "),
            if skipped.len() > 5 { ", ..." } else { "" }
        ));
    }
    if frames.is_empty() {
        return Err(LoadError::new(where_, ErrorKind::Empty));
    }
    let groups = series::group(frames, &mut notes);
    let mut summaries: Vec<_> = groups.iter().map(series::summarise).collect();
    let chosen = series::select(&mut summaries, opts.series.as_deref(), where_)?;
    series::check_mixed_sizes(&groups, chosen, opts.series.as_deref(), where_)?;
    let g = &groups[chosen];
    let series_where = format!("{where_} (series {})", g.id);
    if g.frames.len() == 1 && !opts.allow_single_slice {
        return Err(LoadError::new(series_where, ErrorKind::SingleSlice));
    }
    let stack = series::make_stack(&g.frames).map_err(|e| LoadError::new(&series_where, e.into()))?;
    let sel = &summaries[chosen];
    if sel.gantry_tilt_deg > 0.1 {
        notes.push(format!(
            "gantry tilt {:.2} degrees: resampled onto a grid orthogonal to the slices",
            sel.gantry_tilt_deg
        ));
    }
    let rep = stack.spacing_report();
    let plan = stack.plan();
    if !rep.uniform {
        notes.push(format!(
            "uneven slice spacing ({:.2} to {:.2} mm between planes): resampled to uniform {:.3} mm steps",
            rep.min_mm,
            rep.max_mm,
            plan.affine.spacing()[2]
        ));
    }
    if !rep.gaps.is_empty() {
        let missing: usize = rep.gaps.iter().map(|g| g.1).sum();
        let at: Vec<String> = rep.gaps.iter().take(5).map(|g| g.0.to_string()).collect();
        notes.push(format!(
            "about {missing} slice(s) missing (after sorted slice {}{}): interpolated across",
            at.join(", "),
            if rep.gaps.len() > 5 { ", ..." } else { "" }
        ));
    }

    let slices = decode(&files, &g.frames)?;
    let data = stack.resample(slices, &plan);
    let sop_uids = g
        .frames
        .iter()
        .map(|f| if f.frame == 0 { f.sop_uid.clone() } else { format!("{}#{}", f.sop_uid, f.frame) })
        .collect();
    let source_slices = Some(crate::SourceSlices { stack: stack.clone(), sop_uids });
    let source = if plan.resampled { SourceGrid::Stack(stack) } else { SourceGrid::Same };
    let volume = Volume::new(data, plan.affine, source).map_err(|e| LoadError::new(&series_where, e.into()))?;
    Ok(Scan { volume, format: "dicom", series: summaries, selected: chosen, notes, source_slices })
}

fn file_name(src: &Source) -> String {
    let n = src.name();
    n.rsplit(['/', '\\']).next().unwrap_or(&n).to_string()
}

/// Decoded planes with their slice index.
type Planes = Vec<(usize, Vec<f32>)>;

/// Decodes the frames (in order) into `[k, j, i]`, one file per task.
fn decode(files: &[Source], frames: &[FrameHeader]) -> Result<Array3<f32>> {
    let (rows, cols) = (frames[0].rows, frames[0].cols);
    let mut by_file: BTreeMap<usize, Vec<(usize, &FrameHeader)>> = BTreeMap::new();
    for (k, f) in frames.iter().enumerate() {
        by_file.entry(f.file).or_default().push((k, f));
    }
    let jobs: Vec<_> = by_file.into_iter().collect();
    let decoded: Vec<Result<Planes>> = jobs
        .par_iter()
        .map(|(file, ks)| {
            let hs: Vec<&FrameHeader> = ks.iter().map(|(_, f)| *f).collect();
            let planes = pixels::decode_frames(&files[*file], &hs)?;
            Ok(ks.iter().map(|(k, _)| *k).zip(planes).collect())
        })
        .collect();
    let mut out = Array3::<f32>::zeros((frames.len(), rows, cols));
    for part in decoded {
        for (k, plane) in part? {
            out.index_axis_mut(ndarray::Axis(0), k)
                .as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(&plane[..rows * cols]);
        }
    }
    Ok(out)
}
