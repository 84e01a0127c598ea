//! HU windows: each maps a range of Hounsfield units to one image channel in [0, 1].

use serde::{Deserialize, Serialize};

/// A display window: `level` (centre) and `width`, in HU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub level: f32,
    pub width: f32,
}

impl Window {
    pub const BRAIN: Window = Window { level: 40.0, width: 80.0 };
    pub const SUBDURAL: Window = Window { level: 80.0, width: 200.0 };
    pub const BONE: Window = Window { level: 600.0, width: 2800.0 };

    /// The default three channels: brain, subdural, bone.
    pub fn defaults() -> Vec<Window> {
        vec![Self::BRAIN, Self::SUBDURAL, Self::BONE]
    }

    /// HU -> [0, 1]: 0 at `level - width/2` and below, 1 at `level + width/2` and above.
    #[inline]
    pub fn apply(&self, hu: f32) -> f32 {
        ((hu - (self.level - self.width / 2.0)) / self.width).clamp(0.0, 1.0)
    }

    /// Parses "level/width", e.g. "40/80".
    pub fn parse(s: &str) -> Result<Window, String> {
        let (l, w) = s.split_once('/').ok_or_else(|| format!("window '{s}': expected LEVEL/WIDTH, e.g. 40/80"))?;
        let level: f32 = l.trim().parse().map_err(|_| format!("window '{s}': bad level"))?;
        let width: f32 = w.trim().parse().map_err(|_| format!("window '{s}': bad width"))?;
        if !(width.is_finite() && width > 0.0 && level.is_finite()) {
            return Err(format!("window '{s}': width must be positive"));
        }
        Ok(Window { level, width })
    }
}
