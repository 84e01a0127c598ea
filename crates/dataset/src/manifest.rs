//! Scan lists: the manifest `ichscan synth` writes (`case,path,has_haemorrhage,types,mask,json`)
//! or any CSV with `scan`/`case` and `path` columns (paths relative to the list).

use std::path::{Path, PathBuf};

use crate::labels::Label;

/// One scan to learn from.
#[derive(Debug, Clone)]
pub struct ScanEntry {
    pub name: String,
    pub ct: PathBuf,
    /// A label mask (NIfTI) on any grid, giving slice labels in every plane.
    pub mask: Option<PathBuf>,
    /// Scan-level label: a negative scan makes all its slices negative.
    pub scan_label: Option<Label>,
}

/// Reads a manifest as `ichscan synth` writes it: `case,path,has_haemorrhage,types,mask,json`
/// (paths relative to the manifest's folder).
pub fn read_manifest(path: &Path) -> Result<Vec<ScanEntry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().ok_or(format!("{}: empty", path.display()))?.split(',').map(str::trim).collect();
    let col = |n: &str| head.iter().position(|c| *c == n);
    let c_name = col("case").or(col("scan")).ok_or(format!("{}: no 'case' or 'scan' column", path.display()))?;
    let c_path = col("path").ok_or(format!("{}: no 'path' column", path.display()))?;
    let (c_mask, c_has) = (col("mask"), col("has_haemorrhage"));
    let mut out = Vec::new();
    for (n, l) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let get = |c: usize| f.get(c).copied().ok_or(format!("{}:{}: missing column {}", path.display(), n + 2, c + 1));
        let mask = c_mask.and_then(|c| f.get(c)).filter(|m| !m.is_empty()).map(|m| base.join(m));
        let scan_label = match c_has.and_then(|c| f.get(c)) {
            Some(&"false") | Some(&"0") => Some(Label::NONE),
            _ => None,
        };
        out.push(ScanEntry { name: get(c_name)?.to_string(), ct: base.join(get(c_path)?), mask, scan_label });
    }
    Ok(out)
}
