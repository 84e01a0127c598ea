//! `ichscan synth`: simulated head CTs with haemorrhages, and the manifest training reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use ichscan_load::write::{write_dicom_series, write_nifti, NiftiType, SeriesMeta};
use ichscan_synth::real::{insert_with, VoxelAnatomy};
use ichscan_synth::{phantom_case, Case, CaseSpec, Kind};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Number of cases.
    #[arg(long, default_value_t = 1)]
    pub cases: usize,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Base seed; case n uses a seed derived from it, so a run is reproducible.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Insert lesions into this real scan instead of the phantom.
    #[arg(long)]
    pub into: Option<PathBuf>,
    /// dicom, nifti or both.
    #[arg(long, default_value = "dicom")]
    pub format: String,
    /// Slice thickness (= step), mm.
    #[arg(long, default_value_t = 5.0)]
    pub slice_mm: f64,
    /// Pixel size, mm (default: drawn from 0.4-0.5 per case).
    #[arg(long)]
    pub pixel_mm: Option<f64>,
    /// Image matrix (columns = rows).
    #[arg(long, default_value_t = 512)]
    pub matrix: usize,
    /// Haemorrhage types to draw from, comma separated (edh,sdh,sah,iph,ivh; default all).
    #[arg(long)]
    pub types: Option<String>,
    /// Fraction of cases without haemorrhage.
    #[arg(long, default_value_t = 0.3)]
    pub p_none: f64,
    /// At most this many haemorrhages per case.
    #[arg(long, default_value_t = 2)]
    pub max_lesions: usize,
    /// Lesion size factor (1 = typical).
    #[arg(long, default_value_t = 1.0)]
    pub size: f64,
    /// Also write a PNG montage of brain-window slices of the first cases (lesions outlined).
    #[arg(long)]
    pub montage: Option<PathBuf>,
}

/// The seed of case `n` of a run with base seed `seed`.
pub fn case_seed(seed: u64, n: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(n as u64)
}

pub fn run(a: Args) -> Result<u8, String> {
    let (dicom, nifti) = match a.format.as_str() {
        "dicom" => (true, false),
        "nifti" => (false, true),
        "both" => (true, true),
        f => return Err(format!("--format {f}: expected dicom, nifti or both")),
    };
    if !(0.5..=10.0).contains(&a.slice_mm) {
        return Err(format!("--slice-mm {}: expected 0.5 to 10", a.slice_mm));
    }
    if !(64..=1024).contains(&a.matrix) {
        return Err(format!("--matrix {}: expected 64 to 1024", a.matrix));
    }
    if !(0.0..=1.0).contains(&a.p_none) {
        return Err(format!("--p-none {}: expected 0 to 1", a.p_none));
    }
    let kinds: Vec<Kind> = match &a.types {
        None => vec![],
        Some(t) => t
            .split(',')
            .map(|s| Kind::parse(s.trim()).ok_or_else(|| format!("--types: unknown type '{s}'")))
            .collect::<Result<_, _>>()?,
    };
    let base = match &a.into {
        Some(p) => Some(ichscan_load::load(p, &Default::default()).map_err(|e| e.to_string())?),
        None => None,
    };
    // The real scan's anatomy (cranial cavity, depth map) is found once for all cases.
    let anatomy = match (&base, &a.into) {
        (Some(scan), Some(p)) => Some(VoxelAnatomy::new(&scan.volume).map_err(|e| format!("{}: {e}", p.display()))?),
        _ => None,
    };
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let manifest_path = a.out.join("manifest.csv");
    let mut manifest =
        std::fs::File::create(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let mio = |e: std::io::Error| format!("{}: {e}", manifest_path.display());
    writeln!(manifest, "case,path,has_haemorrhage,types,mask,json").map_err(mio)?;
    let bar = ProgressBar::new(a.cases as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} cases, {per_sec}, eta {eta}").expect("template"));
    let mut montage_cases = Vec::new();
    for n in 0..a.cases {
        let spec = CaseSpec {
            seed: case_seed(a.seed, n),
            slice_mm: a.slice_mm,
            pixel_mm: a.pixel_mm,
            matrix: a.matrix,
            kinds: kinds.clone(),
            p_none: a.p_none,
            max_lesions: a.max_lesions,
            size: a.size,
        };
        let case = match (&anatomy, &a.into) {
            (Some(anat), Some(p)) => {
                insert_with(anat, &p.display().to_string(), &spec).map_err(|e| format!("{}: {e}", p.display()))?
            }
            _ => phantom_case(&spec, true),
        };
        let name = format!("case_{n:04}");
        let dir = a.out.join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ct_path = write_case(&case, &dir, &name, dicom, nifti)?;
        let types: Vec<&str> = case.types().iter().map(|k| k.name()).collect();
        writeln!(
            manifest,
            "{name},{},{},{},{name}/mask.nii.gz,{name}/case.json",
            ct_path,
            case.has_haemorrhage(),
            types.join(";")
        )
        .map_err(mio)?;
        if a.montage.is_some() && montage_cases.len() < 6 {
            montage_cases.push(case);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(m) = &a.montage {
        write_montage(&montage_cases, m)?;
    }
    eprintln!("wrote {} case(s) and manifest.csv to {}", a.cases, a.out.display());
    Ok(crate::EXIT_OK)
}

pub fn write_case(case: &Case, dir: &Path, name: &str, dicom: bool, nifti: bool) -> Result<String, String> {
    let mut ct = String::new();
    if nifti {
        write_nifti(&dir.join("ct.nii.gz"), &case.volume.data.to_owned(), &case.volume.affine, NiftiType::I16)?;
        ct = format!("{name}/ct.nii.gz");
    }
    if dicom {
        let meta = SeriesMeta {
            patient_name: format!("SYNTH^{name}"),
            patient_id: format!("SYNTH-{}", case.seed),
            series_description: format!("ichscan synth seed {}", case.seed),
            uid_seed: case.seed,
            kernel: "SYNTH-SOFT".into(),
        };
        write_dicom_series(&case.volume, &dir.join("ct"), &meta)?;
        ct = format!("{name}/ct");
    }
    write_nifti(&dir.join("mask.nii.gz"), &case.labels.mapv(f32::from), &case.volume.affine, NiftiType::U8)?;
    let v = &case.volume;
    let doc = json!({
        "case": name,
        "seed": case.seed,
        "source": case.source,
        "has_haemorrhage": case.has_haemorrhage(),
        "types": case.types(),
        "geometry": { "dims": v.dims(), "spacing_mm": v.spacing(), "affine": v.affine },
        "mask_labels": Kind::ALL.iter().map(|k| (k.label().to_string(), k.name())).collect::<std::collections::BTreeMap<_, _>>(),
        "lesions": case.lesions,
        "notice": "simulated data for research and testing; not for clinical use",
    });
    let p = dir.join("case.json");
    std::fs::write(&p, serde_json::to_string_pretty(&doc).expect("json"))
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(ct)
}

/// Brain-window axial slices, 4 per case (through the lesions when there are any), mask
/// outlines in red, each slice at half resolution.
fn write_montage(cases: &[Case], path: &Path) -> Result<(), String> {
    let tile = 256usize;
    let cols = 4usize;
    let (w, h) = (tile * cols, tile * cases.len().max(1));
    let mut img = vec![0u8; w * h * 3];
    for (r, case) in cases.iter().enumerate() {
        let (nk, nj, ni) = case.volume.data.dim();
        let ks: Vec<usize> = if let Some(l) = case.lesions.first() {
            let (a, b) = (l.voxel_min[2], l.voxel_max[2]);
            vec![a, (a + b) / 2, b, nk / 2]
        } else {
            vec![nk * 3 / 10, nk / 2, nk * 6 / 10, nk * 7 / 10]
        };
        for (c, &k) in ks.iter().enumerate() {
            for y in 0..tile {
                for x in 0..tile {
                    let (j, i) = (y * nj / tile, x * ni / tile);
                    let hu = case.volume.data[[k, j, i]];
                    let g = (((hu - 0.0) / 80.0).clamp(0.0, 1.0) * 255.0) as u8;
                    let lab = case.labels[[k, j, i]];
                    let edge = lab > 0
                        && [(0i64, 1i64), (1, 0), (0, -1), (-1, 0)].iter().any(|(dj, di)| {
                            let (jj, ii) = (j as i64 + dj * 2, i as i64 + di * 2);
                            jj < 0
                                || ii < 0
                                || jj >= nj as i64
                                || ii >= ni as i64
                                || case.labels[[k, jj as usize, ii as usize]] != lab
                        });
                    let px = ((r * tile + y) * w + c * tile + x) * 3;
                    let rgb = if edge { [255, 40, 40] } else { [g, g, g] };
                    img[px..px + 3].copy_from_slice(&rgb);
                }
            }
        }
    }
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().and_then(|mut wr| wr.write_image_data(&img)).map_err(|e| format!("{}: {e}", path.display()))
}
