//! `ichscan`: a thin command line over the library crates.
//!
//! Exit codes (stable, documented in the README): 0 success (and, for detection, no
//! haemorrhage found), 1 haemorrhage found (`detect`; `demo` exits 0 whenever it ran), 2 error (bad input, bad usage).

mod classify;
mod default_model;
mod demo;
mod detect;
#[cfg(feature = "train")]
mod eval;
mod export;
mod info;
mod slices;
mod synth;
#[cfg(feature = "train")]
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(name = "ichscan", version, about = "Finds intracranial haemorrhage in head CT scans and shows where it is.")]
struct Cli {
    /// More log output (-v info, -vv debug); ICHSCAN_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find haemorrhage in a head CT: verdict, probability, types and 3D boxes (the main job).
    Detect(detect::Args),
    /// Simulate a head CT with a haemorrhage, detect it, and show the found box beside the true one.
    Demo(demo::Args),
    /// Describe a scan: the series found, the one chosen and why, geometry and HU range.
    Info(info::Args),
    /// Write the model's input slices (PNG, windows as RGB) with a CSV index.
    Slices(slices::Args),
    /// Simulate head CTs with haemorrhages of known extent (DICOM/NIfTI, masks, JSON, manifest).
    Synth(synth::Args),
    /// Turn a training run or package into deployable ONNX packages (f32, optional int8).
    Export(export::Args),
    /// Per-slice haemorrhage probabilities of plane models (ONNX Runtime), as CSV.
    Classify(classify::Args),
    /// Train the plane classifiers with the method's recipe (needs the `train` feature).
    #[cfg(feature = "train")]
    Train(train::Args),
    /// Evaluate trained plane models: slice- and scan-level metrics, ROC curves (needs `train`).
    #[cfg(feature = "train")]
    Eval(eval::Args),
}

/// Denormal floats flushed to zero (x86 MXCSR FTZ and DAZ) in this thread, before any
/// other thread exists: threads inherit it, libtorch's and ONNX Runtime's pools included.
/// Why: with the sagittal recipe's L2 of 0.005, Adam drives unused weights into the
/// denormal range (a fifth of them by epoch 3, measured) and every convolution then runs
/// about 5x slower; values that small change no result.
fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)] // _mm_setcsr is the documented way to set MXCSR
    // SAFETY: sets two flag bits of this thread's floating-point control register.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

fn main() -> ExitCode {
    flush_denormals();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ICHSCAN_LOG").unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let result = match cli.command {
        Command::Detect(a) => detect::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Info(a) => info::run(a).map_err(|e| e.to_string()),
        Command::Slices(a) => slices::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Export(a) => export::run(a),
        Command::Classify(a) => classify::run(a),
        #[cfg(feature = "train")]
        Command::Train(a) => train::run(a),
        #[cfg(feature = "train")]
        Command::Eval(a) => eval::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
