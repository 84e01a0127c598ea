//! A minimal safetensors reader (f32 tensors): an 8-byte little-endian header length, a
//! JSON header `{name: {dtype, shape, data_offsets}}`, then the raw data.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ModelError;

/// One f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// All tensors of a file by name. Integer tensors (BatchNorm's `num_batches_tracked`) are
/// skipped; other dtypes are an error naming the tensor.
pub fn read(path: &Path) -> Result<BTreeMap<String, F32Tensor>, ModelError> {
    let err = |m: String| ModelError::new(path, m);
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if bytes.len() < 8 {
        return Err(err("not a safetensors file (shorter than its header length)".into()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let body = 8usize.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| err("truncated header".into()))?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..body]).map_err(|e| err(format!("bad header: {e}")))?;
    let data = &bytes[body..];
    let mut out = BTreeMap::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = v["dtype"].as_str().unwrap_or("");
        let shape: Vec<usize> = v["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).map(|d| d as usize).collect())
            .unwrap_or_default();
        let off: Vec<usize> = v["data_offsets"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).map(|d| d as usize).collect())
            .unwrap_or_default();
        let (a, b) = match off[..] {
            [a, b] if a <= b && b <= data.len() => (a, b),
            _ => return Err(err(format!("tensor {name}: bad data_offsets"))),
        };
        match dtype {
            "F32" => {
                let count: usize = shape.iter().product();
                if b - a != count * 4 {
                    return Err(err(format!("tensor {name}: {} bytes for shape {shape:?}", b - a)));
                }
                let data = data[a..b].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect();
                out.insert(name, F32Tensor { shape, data });
            }
            "I64" | "I32" => {}
            d => return Err(err(format!("tensor {name}: dtype {d} (expected F32)"))),
        }
    }
    Ok(out)
}

/// Writes f32 tensors (sorted by name, as the format asks for deterministic files).
pub fn write(path: &Path, tensors: &BTreeMap<String, F32Tensor>) -> Result<(), ModelError> {
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (name, t) in tensors {
        let len = t.data.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": t.shape, "data_offsets": [off, off + len] }),
        );
        off += len;
    }
    let mut h = serde_json::to_vec(&header).expect("json");
    while (8 + h.len()) % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend((h.len() as u64).to_le_bytes());
    out.extend(h);
    for t in tensors.values() {
        for v in &t.data {
            out.extend(v.to_le_bytes());
        }
    }
    std::fs::write(path, out).map_err(|e| ModelError::new(path, e.to_string()))
}
