//! Load errors: each names the file (or folder) and the problem, on one line.

use std::fmt;

/// What went wrong while loading, and where.
#[derive(Debug)]
pub struct LoadError {
    /// The file, folder or archive entry the problem is in.
    pub path: String,
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("no DICOM or NIfTI files found")]
    Empty,
    #[error("not a DICOM file or corrupt: {0}")]
    NotDicom(String),
    #[error("corrupt or truncated DICOM: {0}")]
    Corrupt(String),
    #[error("missing or invalid {0}")]
    MissingAttribute(&'static str),
    #[error("no CT series to analyse: {0}")]
    NoCt(String),
    #[error("no series with UID {0} (found: {1})")]
    NoSuchSeries(String, String),
    #[error("transfer syntax {uid} ({name}) cannot be decoded: {detail}")]
    UnsupportedTransferSyntax { uid: String, name: String, detail: String },
    #[error("pixel data: {0}")]
    PixelData(String),
    #[error("only one slice; a 3D scan needs at least two (load single slices with --allow-single-slice)")]
    SingleSlice,
    #[error("slices differ in size: {0}")]
    MixedSizes(String),
    #[error("bad NIfTI: {0}")]
    Nifti(String),
    #[error("bad geometry: {0}")]
    Geometry(#[from] ichscan_geometry::GeometryError),
    #[error("bad zip archive: {0}")]
    Zip(String),
}

impl LoadError {
    pub fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        Self { path: path.into(), kind }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

impl std::error::Error for LoadError {}

pub type Result<T, E = LoadError> = std::result::Result<T, E>;
