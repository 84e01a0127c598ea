//! What the user pointed at, as a list of candidate files: a folder (walked
//! recursively), one file, or a .zip archive (entries read into memory).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ErrorKind, LoadError, Result};

/// One input file, on disk or inside an archive.
#[derive(Debug, Clone)]
pub enum Source {
    Disk(PathBuf),
    Memory { name: String, bytes: Arc<Vec<u8>> },
}

impl Source {
    /// The name to show the user.
    pub fn name(&self) -> String {
        match self {
            Source::Disk(p) => p.display().to_string(),
            Source::Memory { name, .. } => name.clone(),
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> Result<Arc<Vec<u8>>> {
        match self {
            Source::Disk(p) => std::fs::read(p).map(Arc::new).map_err(|e| LoadError::new(self.name(), e.into())),
            Source::Memory { bytes, .. } => Ok(bytes.clone()),
        }
    }

    /// The first `n` bytes (fewer if the file is shorter).
    pub fn head(&self, n: usize) -> Result<Vec<u8>> {
        match self {
            Source::Disk(p) => {
                let f = std::fs::File::open(p).map_err(|e| LoadError::new(self.name(), e.into()))?;
                let mut buf = Vec::with_capacity(n);
                f.take(n as u64).read_to_end(&mut buf).map_err(|e| LoadError::new(self.name(), e.into()))?;
                Ok(buf)
            }
            Source::Memory { bytes, .. } => Ok(bytes[..n.min(bytes.len())].to_vec()),
        }
    }

    pub fn is_nifti(&self) -> bool {
        let n = self.name().to_ascii_lowercase();
        n.ends_with(".nii") || n.ends_with(".nii.gz")
    }
}

/// Files found, plus notes on what was skipped and why.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<Source>,
    pub notes: Vec<String>,
}

pub fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Lists the candidate files under `input`, sorted by name so runs are reproducible.
pub fn list(input: &Path) -> Result<Listing> {
    let name = input.display().to_string();
    let meta = std::fs::metadata(input).map_err(|e| LoadError::new(&name, e.into()))?;
    let mut out = Listing::default();
    if meta.is_dir() {
        let mut hidden = 0usize;
        let walk = walkdir::WalkDir::new(input).follow_links(true).sort_by_file_name().into_iter();
        // Hidden files and folders (.DS_Store, .git, ...) are never scan data.
        let walk = walk.filter_entry(|e| {
            let h = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            hidden += h as usize;
            !h
        });
        for entry in walk {
            let entry = entry.map_err(|e| LoadError::new(&name, ErrorKind::Io(e.into())))?;
            if entry.file_type().is_file() {
                out.files.push(Source::Disk(entry.into_path()));
            }
        }
        if hidden > 0 {
            out.notes.push(format!("skipped {hidden} hidden file(s) or folder(s)"));
        }
    } else if is_zip(input) {
        list_zip(input, &mut out)?;
    } else {
        out.files.push(Source::Disk(input.to_path_buf()));
    }
    if out.files.is_empty() {
        return Err(LoadError::new(name, ErrorKind::Empty));
    }
    Ok(out)
}

fn list_zip(input: &Path, out: &mut Listing) -> Result<()> {
    let name = input.display().to_string();
    let zerr = |e: zip::result::ZipError| LoadError::new(&name, ErrorKind::Zip(e.to_string()));
    let file = std::fs::File::open(input).map_err(|e| LoadError::new(&name, e.into()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zerr)?;
    let mut entries = Vec::new();
    for idx in 0..zip.len() {
        let mut f = zip.by_index(idx).map_err(zerr)?;
        if !f.is_file() {
            continue;
        }
        let inner = f.name().to_string();
        if inner.split('/').any(|part| part.starts_with('.') || part == "__MACOSX") {
            continue;
        }
        let mut bytes = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut bytes)
            .map_err(|e| LoadError::new(format!("{name}!/{inner}"), ErrorKind::Zip(e.to_string())))?;
        entries.push(Source::Memory { name: format!("{name}!/{inner}"), bytes: Arc::new(bytes) });
    }
    entries.sort_by_key(|s| s.name());
    out.files = entries;
    Ok(())
}
