//! Label files as users have them, parsed into scan-level and per-source-slice labels.
//!
//! * CQ500 `reads.csv`: three radiologists' scan-level reads; a finding counts when the
//!   majority (2 of 3) reported it.
//! * BHX box CSVs (`1_Initial_Manual_Labeling.csv` and the like): 2D boxes on CQ500 slices,
//!   keyed by SOPInstanceUID, `data` = `{'x', 'y', 'width', 'height'}` in pixels, `labelName`.
//!   "Chronic" boxes count as haemorrhage of no acute type.
//! * RSNA challenge CSV: `ID_<sop>_<type>,Label` rows; the slice's SOPInstanceUID is `ID_<sop>`.
//! * ichscan's explicit per-plane slice CSV: `scan,plane,index|position_mm,any[,type...]`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Type order everywhere: epidural, subdural, subarachnoid, intraparenchymal,
/// intraventricular (the simulator's mask labels 1-5).
pub const TYPES: [&str; 5] = ["epidural", "subdural", "subarachnoid", "intraparenchymal", "intraventricular"];

/// A label: haemorrhage or not, and which types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub any: bool,
    pub types: [bool; 5],
}

impl Label {
    pub const NONE: Label = Label { any: false, types: [false; 5] };

    pub fn with_type(t: usize) -> Label {
        let mut l = Label { any: true, types: [false; 5] };
        l.types[t] = true;
        l
    }

    pub fn merge(&mut self, o: &Label) {
        self.any |= o.any;
        for t in 0..5 {
            self.types[t] |= o.types[t];
        }
    }
}

/// Index of a type name (as the formats spell it) in [`TYPES`].
pub fn type_index(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_lowercase();
    let n = match n.as_str() {
        "edh" => "epidural",
        "sdh" => "subdural",
        "sah" => "subarachnoid",
        "iph" => "intraparenchymal",
        "ivh" => "intraventricular",
        other => other,
    };
    TYPES.iter().position(|t| *t == n)
}

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {msg}")]
pub struct LabelError {
    pub path: String,
    pub line: usize,
    pub msg: String,
}

fn read(path: &Path) -> Result<String, LabelError> {
    std::fs::read_to_string(path).map_err(|e| LabelError {
        path: path.display().to_string(),
        line: 0,
        msg: e.to_string(),
    })
}

/// Splits one CSV line, honouring double quotes (BHX's `data` column holds commas).
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(n, l)| (n + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty())
}

/// CQ500 `reads.csv`: scan name -> majority label.
pub fn cq500_reads(path: &Path) -> Result<BTreeMap<String, Label>, LabelError> {
    let text = read(path)?;
    let err = |line: usize, msg: String| LabelError { path: path.display().to_string(), line, msg };
    let mut it = lines(&text);
    let (_, head) = it.next().ok_or_else(|| err(1, "empty file".into()))?;
    let cols = csv_fields(head);
    let find = |name: &str| cols.iter().position(|c| c.trim() == name);
    let name_col = find("name").ok_or_else(|| err(1, "no 'name' column".into()))?;
    // For each reader: the ICH column and the five type columns.
    let keys = ["ICH", "EDH", "SDH", "SAH", "IPH", "IVH"];
    let mut readers = Vec::new();
    for r in 1..=3 {
        let idx: Option<Vec<usize>> = keys.iter().map(|k| find(&format!("R{r}:{k}"))).collect();
        readers.push(idx.ok_or_else(|| err(1, format!("reader R{r} columns missing")))?);
    }
    let mut out = BTreeMap::new();
    for (n, l) in it {
        let f = csv_fields(l);
        let val = |i: usize| -> Result<u8, LabelError> {
            f.get(i)
                .and_then(|v| v.trim().parse::<u8>().ok())
                .ok_or_else(|| err(n, format!("column {} is not 0/1", i + 1)))
        };
        let mut votes = [0u8; 6];
        for r in &readers {
            for (k, &c) in r.iter().enumerate() {
                votes[k] += val(c)?;
            }
        }
        let mut lab = Label { any: votes[0] >= 2, types: [false; 5] };
        for t in 0..5 {
            lab.types[t] = votes[t + 1] >= 2;
        }
        out.insert(f[name_col].trim().to_string(), lab);
    }
    Ok(out)
}

/// One BHX box: pixel rectangle (x = column, y = row, top-left corner, pixel edges at
/// whole numbers) on the slice `sop_uid`.
#[derive(Debug, Clone, PartialEq)]
pub struct BhxBox {
    pub sop_uid: String,
    pub series_uid: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Index into [`TYPES`], or `None` for "Chronic".
    pub kind: Option<usize>,
}

/// BHX box CSV.
pub fn bhx_boxes(path: &Path) -> Result<Vec<BhxBox>, LabelError> {
    let text = read(path)?;
    let err = |line: usize, msg: String| LabelError { path: path.display().to_string(), line, msg };
    let mut it = lines(&text);
    let (_, head) = it.next().ok_or_else(|| err(1, "empty file".into()))?;
    let cols = csv_fields(head);
    let find =
        |name: &str| cols.iter().position(|c| c.trim() == name).ok_or_else(|| err(1, format!("no '{name}' column")));
    let (c_sop, c_series, c_data, c_label) =
        (find("SOPInstanceUID")?, find("SeriesInstanceUID")?, find("data")?, find("labelName")?);
    let mut out = Vec::new();
    for (n, l) in it {
        let f = csv_fields(l);
        let get = |i: usize| f.get(i).map(|s| s.trim()).ok_or_else(|| err(n, format!("missing column {}", i + 1)));
        let data = get(c_data)?;
        let num = |key: &str| -> Result<f64, LabelError> {
            let pat = format!("'{key}':");
            let at = data.find(&pat).ok_or_else(|| err(n, format!("data has no '{key}'")))? + pat.len();
            let rest = &data[at..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            rest[..end].trim().parse::<f64>().map_err(|_| err(n, format!("bad '{key}' in data")))
        };
        let label = get(c_label)?;
        let kind = if label.eq_ignore_ascii_case("chronic") {
            None
        } else {
            Some(type_index(label).ok_or_else(|| err(n, format!("unknown labelName '{label}'")))?)
        };
        out.push(BhxBox {
            sop_uid: get(c_sop)?.to_string(),
            series_uid: get(c_series)?.to_string(),
            x: num("x")?,
            y: num("y")?,
            width: num("width")?,
            height: num("height")?,
            kind,
        });
    }
    Ok(out)
}

/// RSNA challenge CSV: SOPInstanceUID (`ID_<sop>`) -> label.
pub fn rsna_labels(path: &Path) -> Result<HashMap<String, Label>, LabelError> {
    let text = read(path)?;
    let err = |line: usize, msg: String| LabelError { path: path.display().to_string(), line, msg };
    let mut out: HashMap<String, Label> = HashMap::new();
    for (n, l) in lines(&text).skip(1) {
        let f = csv_fields(l);
        let (id, v) = (f[0].trim(), f.get(1).map(|s| s.trim()).unwrap_or(""));
        let (sop, ty) = id.rsplit_once('_').ok_or_else(|| err(n, format!("ID '{id}' is not ID_<sop>_<type>")))?;
        let positive = match v {
            "0" => false,
            "1" => true,
            _ => return Err(err(n, format!("label '{v}' is not 0/1"))),
        };
        let e = out.entry(sop.to_string()).or_default();
        if ty == "any" {
            e.any |= positive;
        } else {
            let t = type_index(ty).ok_or_else(|| err(n, format!("unknown type '{ty}'")))?;
            e.types[t] |= positive;
            e.any |= positive;
        }
    }
    Ok(out)
}

/// Where a row of the explicit slice CSV points.
#[derive(Debug, Clone, PartialEq)]
pub enum SliceRef {
    Index(usize),
    PositionMm(f64),
}

/// One row of the explicit slice CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRow {
    pub scan: String,
    pub plane: ichscan_slices::Plane,
    pub at: SliceRef,
    pub label: Label,
}

/// ichscan's explicit per-plane slice CSV. Header: `scan,plane,index` or
/// `scan,plane,position_mm`, then `any`, then any of the five type names; values 0/1.
pub fn slice_csv(path: &Path) -> Result<Vec<SliceRow>, LabelError> {
    let text = read(path)?;
    let err = |line: usize, msg: String| LabelError { path: path.display().to_string(), line, msg };
    let mut it = lines(&text);
    let (_, head) = it.next().ok_or_else(|| err(1, "empty file".into()))?;
    let cols: Vec<String> = csv_fields(head).into_iter().map(|c| c.trim().to_ascii_lowercase()).collect();
    let col = |n: &str| cols.iter().position(|c| c == n);
    let (c_scan, c_plane) = (
        col("scan").ok_or_else(|| err(1, "no 'scan' column".into()))?,
        col("plane").ok_or_else(|| err(1, "no 'plane' column".into()))?,
    );
    let (c_at, by_index) = match (col("index"), col("position_mm")) {
        (Some(i), _) => (i, true),
        (None, Some(p)) => (p, false),
        _ => return Err(err(1, "need an 'index' or a 'position_mm' column".into())),
    };
    let c_any = col("any").ok_or_else(|| err(1, "no 'any' column".into()))?;
    let type_cols: Vec<(usize, usize)> =
        TYPES.iter().enumerate().filter_map(|(t, name)| col(name).map(|c| (t, c))).collect();
    let mut out = Vec::new();
    for (n, l) in it {
        let f = csv_fields(l);
        let get = |i: usize| f.get(i).map(|s| s.trim()).ok_or_else(|| err(n, format!("missing column {}", i + 1)));
        let bit = |i: usize| -> Result<bool, LabelError> {
            match get(i)? {
                "0" => Ok(false),
                "1" => Ok(true),
                v => Err(err(n, format!("'{v}' is not 0/1"))),
            }
        };
        let plane = ichscan_slices::Plane::parse(get(c_plane)?)
            .ok_or_else(|| err(n, "plane must be axial, sagittal or coronal".into()))?;
        let raw = get(c_at)?;
        let at = if by_index {
            SliceRef::Index(raw.parse().map_err(|_| err(n, format!("bad index '{raw}'")))?)
        } else {
            SliceRef::PositionMm(raw.parse().map_err(|_| err(n, format!("bad position '{raw}'")))?)
        };
        let mut label = Label { any: bit(c_any)?, types: [false; 5] };
        for &(t, c) in &type_cols {
            label.types[t] = bit(c)?;
        }
        if label.types.iter().any(|t| *t) {
            label.any = true;
        }
        out.push(SliceRow { scan: get(c_scan)?.to_string(), plane, at, label });
    }
    Ok(out)
}
