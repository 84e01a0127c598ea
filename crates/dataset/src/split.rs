//! Scan-level train/validation split: no scan on both sides, reproducible from a seed,
//! stratified by scan label so both sides keep the haemorrhage fraction, written to a
//! file that later runs reuse.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub seed: u64,
    pub train_fraction: f64,
    pub train: Vec<String>,
    pub val: Vec<String>,
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Splits `scans` (name, whether it has haemorrhage if known) into train and validation,
/// `train_fraction` of each stratum to train (the method: 0.7).
pub fn split(scans: &[(String, Option<bool>)], train_fraction: f64, seed: u64) -> Split {
    let mut state = seed;
    let mut train = Vec::new();
    let mut val = Vec::new();
    for stratum in [Some(true), Some(false), None] {
        let mut names: Vec<&String> = scans.iter().filter(|(_, l)| *l == stratum).map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        // Fisher-Yates with our own generator: the same split on every platform.
        for i in (1..names.len()).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            names.swap(i, j);
        }
        let n_train = (names.len() as f64 * train_fraction).round() as usize;
        for (i, n) in names.into_iter().enumerate() {
            if i < n_train {
                train.push(n.clone());
            } else {
                val.push(n.clone());
            }
        }
    }
    train.sort();
    val.sort();
    Split { seed, train_fraction, train, val }
}

impl Split {
    pub fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, serde_json::to_string_pretty(self).expect("json"))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Split, String> {
        let t = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let s: Split = serde_json::from_str(&t).map_err(|e| format!("{}: not a split file: {e}", path.display()))?;
        if let Some(x) = s.train.iter().find(|n| s.val.contains(n)) {
            return Err(format!("{}: scan {x} is in both train and val", path.display()));
        }
        Ok(s)
    }
}
