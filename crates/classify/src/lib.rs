//! # ichscan-classify
//!
//! The fourth step of the pipeline at deployment: every slice of a plane scored by that
//! plane's model package (`ichscan-model`) with ONNX Runtime, f32 or int8. The library is
//! loaded at run time ([`runtime`]), so this crate builds without it and a binary without
//! libtorch still classifies.
//!
//! Two ONNX Runtime execution providers ([`Engine`]): OpenVINO's (in the
//! `onnxruntime-openvino` wheel `scripts/setup-python` installs on x86-64 Linux), which
//! runs int8 graphs 3-4x faster than ONNX Runtime's own CPU kernels (it uses AMX / VNNI
//! int8 and compiles the whole graph) and can run an f32 graph in bf16 ([`Precision::Bf16`],
//! like PyTorch's bf16 autocast); and ONNX Runtime's CPU provider, which any onnxruntime
//! library has. [`Engine::Auto`] takes OpenVINO when the library offers it.
//!
//! Inputs are made exactly as the package's contract says: window per channel, then
//! `(x - mean) / std`; outputs are P(haemorrhage) (softmax, class 0) and, with a type
//! head, one sigmoid per type.

pub mod export;
pub mod runtime;

use std::path::Path;
use std::sync::Mutex;

use ichscan_model::Package;
use ichscan_slices::SliceStack;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

/// Images per ONNX Runtime call.
pub const BATCH: usize = 16;

/// The arithmetic a classifier runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// The f32 graph (`model.onnx`) in f32.
    F32,
    /// The f32 graph computed in bfloat16 (OpenVINO engine only; AMX or AVX-512 BF16 make it
    /// fast; elsewhere OpenVINO may compute in f32).
    Bf16,
    /// The int8 graph (`model.int8.onnx`).
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// Whether it runs the package's int8 graph.
    pub fn int8(self) -> bool {
        self == Precision::Int8
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision '{s}' (f32, bf16, int8)")),
        }
    }
}

/// The ONNX Runtime execution provider that runs the graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// OpenVINO when the ONNX Runtime library has it, else the CPU provider.
    Auto,
    /// Intel OpenVINO's provider (an error when the library lacks it).
    OpenVino,
    /// ONNX Runtime's own CPU provider.
    Cpu,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::OpenVino => "openvino",
            Engine::Cpu => "cpu",
        }
    }

    /// The engine `self` means with the library in use: OpenVINO or CPU.
    pub fn resolve(self) -> Result<Engine, String> {
        match self {
            Engine::Cpu => Ok(Engine::Cpu),
            Engine::OpenVino if runtime::has_openvino()? => Ok(Engine::OpenVino),
            Engine::OpenVino => Err(format!(
                "the ONNX Runtime library {} has no OpenVINO execution provider; {}",
                runtime::library_path().map(|p| p.display().to_string()).unwrap_or_default(),
                runtime::install_hint()
            )),
            Engine::Auto => Ok(if runtime::has_openvino()? { Engine::OpenVino } else { Engine::Cpu }),
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Engine::Auto),
            "openvino" => Ok(Engine::OpenVino),
            "cpu" => Ok(Engine::Cpu),
            _ => Err(format!("unknown engine '{s}' (auto, openvino, cpu)")),
        }
    }
}

/// OpenVINO's CPU plugin settings for bf16: its own properties, passed through the
/// provider's `load_config` (the provider's `precision` option offers only FP32 on CPU).
const OPENVINO_BF16: &str = r#"{"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}}"#;

/// One plane's model, ready to run.
pub struct Classifier {
    pub package: Package,
    pub precision: Precision,
    /// The engine running it (OpenVINO or CPU, never Auto).
    pub engine: Engine,
    session: Mutex<Session>,
    has_types: bool,
}

/// The scores of one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceScore {
    /// P(haemorrhage).
    pub p: f64,
    /// P(type) in the package's `type_labels` order (empty without a type head).
    pub types: Vec<f64>,
}

impl Classifier {
    /// Opens `package`'s graph for `precision` (the int8 graph for int8, else the f32
    /// one) on `engine`.
    pub fn open(package: Package, precision: Precision, engine: Engine) -> Result<Classifier, String> {
        let path = package.onnx_path(precision.int8()).map_err(|e| e.to_string())?;
        Self::open_with(package, precision, engine, &path.clone(), |b| b.commit_from_file(&path))
    }

    /// Opens a package whose graph is in memory (`onnx`: the int8 graph for int8, else the
    /// f32 one), e.g. the model built into the binary.
    pub fn open_bytes(
        package: Package,
        precision: Precision,
        engine: Engine,
        onnx: &[u8],
    ) -> Result<Classifier, String> {
        let name = package.dir.join(if precision.int8() { "model.int8.onnx" } else { "model.onnx" });
        Self::open_with(package, precision, engine, &name, |b| b.commit_from_memory(onnx))
    }

    fn open_with(
        package: Package,
        precision: Precision,
        requested: Engine,
        path: &Path,
        commit: impl Fn(&mut ort::session::builder::SessionBuilder) -> ort::Result<Session>,
    ) -> Result<Classifier, String> {
        runtime::environment()?;
        let engine = requested.resolve()?;
        if precision == Precision::Bf16 && engine != Engine::OpenVino {
            return Err(format!("{}: bf16 needs the OpenVINO engine (--engine openvino)", path.display()));
        }
        match Self::try_open(package.clone(), precision, engine, path, &commit) {
            // The library lists OpenVINO but cannot start it (e.g. its plugin libraries are
            // missing beside a copied libonnxruntime.so): auto means "the best that works".
            // (A graph that the CPU kernels cannot open either is broken: that error alone.)
            Err(e) if requested == Engine::Auto && engine == Engine::OpenVino && precision != Precision::Bf16 => {
                let c = Self::try_open(package, precision, Engine::Cpu, path, &commit)?;
                tracing::warn!("{e}; using ONNX Runtime's CPU kernels instead");
                Ok(c)
            }
            r => r,
        }
    }

    fn try_open(
        package: Package,
        precision: Precision,
        engine: Engine,
        path: &Path,
        commit: &impl Fn(&mut ort::session::builder::SessionBuilder) -> ort::Result<Session>,
    ) -> Result<Classifier, String> {
        let env = runtime::environment()?;
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // One line: OpenVINO's messages can span several.
        let err = |e: ort::Error| format!("{}: {}", path.display(), e.to_string().trim().replace('\n', "; "));
        let mut builder = Session::builder(env)
            .map_err(err)?
            // ORT_ENABLE_ALL, ONNX Runtime's own default (in ort 2.0, Level3 is the narrower
            // ORT_ENABLE_LAYOUT; no speed difference was measured on our graphs).
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| err(e.into()))?
            .with_intra_threads(threads)
            .map_err(|e| err(e.into()))?;
        if engine == Engine::OpenVino {
            use ort::ep::ArbitrarilyConfigurableExecutionProvider;
            let mut ep = ort::ep::OpenVINO::default().with_device_type("CPU").with_num_threads(threads);
            if precision == Precision::Bf16 {
                ep = ep.with_arbitrary_config("load_config", OPENVINO_BF16);
            }
            builder = builder.with_execution_providers([ep.build().error_on_failure()]).map_err(|e| err(e.into()))?;
        }
        let session = commit(&mut builder).map_err(err)?;
        let onnx = package.meta.onnx.clone().expect("onnx_path checked it");
        let names: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        if !names.contains(&onnx.logits) {
            return Err(format!("{}: no output named '{}' (outputs: {names:?})", path.display(), onnx.logits));
        }
        let has_types = onnx.types.as_ref().is_some_and(|t| names.contains(t));
        let c = Classifier { package, precision, engine, session: Mutex::new(session), has_types };
        if engine == Engine::OpenVino {
            // OpenVINO compiles a graph for each new input shape on its first run (30-50 ms
            // for the default model): do it now, for the one shape score_stack uses, so that
            // opening (which callers may overlap with loading a scan) bears the cost.
            let m = &c.package.meta.input;
            c.run(&vec![0.0; BATCH * m.channels.len() * m.size * m.size], BATCH)?;
        }
        Ok(c)
    }

    /// Runs the network on `n` prepared inputs (`[n, C, S, S]`, already normalised);
    /// returns the logits `[n, classes]` and the type logits `[n, types]` when present.
    pub fn run(&self, x: &[f32], n: usize) -> Result<(Vec<f32>, Option<Vec<f32>>), String> {
        let m = &self.package.meta;
        let (c, s) = (m.input.channels.len(), m.input.size);
        assert_eq!(x.len(), n * c * s * s, "input length");
        let onnx = m.onnx.as_ref().expect("opened with onnx");
        let input = TensorRef::from_array_view(([n, c, s, s], x)).map_err(|e| e.to_string())?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let out = session
            .run(ort::inputs![onnx.input.as_str() => input])
            .map_err(|e| format!("{}: {}", self.package.dir.display(), e.to_string().trim().replace('\n', "; ")))?;
        let logits = out[onnx.logits.as_str()].try_extract_tensor::<f32>().map_err(|e| e.to_string())?.1.to_vec();
        let types = match (&onnx.types, self.has_types) {
            (Some(t), true) => Some(out[t.as_str()].try_extract_tensor::<f32>().map_err(|e| e.to_string())?.1.to_vec()),
            _ => None,
        };
        Ok((logits, types))
    }

    /// The normalised network input for HU images `[n, row, col]` (one per slice).
    pub fn input(&self, hu: ndarray::ArrayView3<f32>) -> Vec<f32> {
        let (n, h, w) = hu.dim();
        let imgs: Vec<_> = hu.outer_iter().collect();
        self.input_of(&imgs, n, h * w)
    }

    /// The normalised input for `imgs` (each `px` HU values), padded with zeros to `n`
    /// images; one image per task across the cores.
    fn input_of(&self, imgs: &[ndarray::ArrayView2<f32>], n: usize, px: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let i = &self.package.meta.input;
        let per = i.channels.len() * px;
        let mut x = vec![0f32; n * per];
        x.par_chunks_mut(per.max(1)).zip(imgs.par_iter()).for_each(|(dst, img)| {
            let img = img.as_standard_layout();
            let src = img.as_slice().expect("standard layout");
            for (k, ((win, mean), std)) in i.channels.iter().zip(&i.mean).zip(&i.std).enumerate() {
                for (d, v) in dst[k * px..(k + 1) * px].iter_mut().zip(src) {
                    *d = (win.apply(*v) - mean) / std;
                }
            }
        });
        x
    }

    /// Scores from logits: softmax class 0, sigmoid types.
    pub fn scores(&self, logits: &[f32], types: Option<&[f32]>, n: usize) -> Vec<SliceScore> {
        let k = logits.len() / n.max(1);
        let t = types.map(|t| t.len() / n.max(1)).unwrap_or(0);
        (0..n)
            .map(|i| {
                let l = &logits[i * k..(i + 1) * k];
                let mx = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let z: f64 = l.iter().map(|v| (*v as f64 - mx).exp()).sum();
                SliceScore {
                    p: (l[0] as f64 - mx).exp() / z,
                    types: types
                        .map(|ty| ty[i * t..(i + 1) * t].iter().map(|v| 1.0 / (1.0 + (-*v as f64).exp())).collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Scores every slice of `stack` (or, with `only_head`, the slices with head in them;
    /// the others get `None`).
    pub fn score_stack(&self, stack: &SliceStack, only_head: bool) -> Result<Vec<Option<SliceScore>>, String> {
        let m = &self.package.meta;
        if stack.plane != m.plane {
            return Err(format!("{} model given {} slices", m.plane.name(), stack.plane.name()));
        }
        let (_, h, w) = stack.hu.dim();
        if h != m.input.size || w != m.input.size {
            return Err(format!("slices are {h}x{w}, the model takes {0}x{0}", m.input.size));
        }
        let todo: Vec<usize> = (0..stack.len()).filter(|&i| !only_head || stack.has_head[i]).collect();
        let mut out = vec![None; stack.len()];
        for chunk in todo.chunks(BATCH) {
            let imgs: Vec<_> = chunk.iter().map(|&i| stack.hu.index_axis(ndarray::Axis(0), i)).collect();
            // Always a full batch (the last one padded): one input shape, so OpenVINO never
            // compiles another, and a slice's score never depends on how many came with it.
            let x = self.input_of(&imgs, BATCH, h * w);
            let (l, t) = self.run(&x, BATCH)?;
            for (i, s) in chunk.iter().zip(self.scores(&l, t.as_deref(), BATCH)) {
                out[*i] = Some(s);
            }
        }
        Ok(out)
    }
}
