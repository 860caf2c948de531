//! `kiln`: bake machine-learned game assets from recipes, and check the set-up that bakes them.

mod bake;
mod doctor;
mod models;
mod studio;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_onnx::ProviderPolicy;

/// Exit codes, decided here only (documented in the README and `kiln --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Everything asked for was done.
    Success = 0,
    /// Some entries or models failed; everything else was done.
    Partial = 1,
    /// Invalid input: a recipe or manifest could not be read, or bad arguments.
    BadInput = 2,
    /// ONNX Runtime or the required execution provider is unavailable; nothing was generated.
    Environment = 3,
    /// Another bake is writing to the same output folder; nothing was done.
    Busy = 4,
}

const EXIT_CODES: &str = "Exit codes:
  0  everything was baked / checked / verified
  1  some entries or models failed (or `verify` found drift); the rest was done and recorded
  2  invalid input (a recipe, model manifest, bake manifest or shard, or the arguments)
  3  ONNX Runtime or the required execution provider is unavailable
  4  another `kiln bake` is writing to the same output folder";

#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Show more detail (info-level logs).
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bake every recipe (*.kiln.ron) below a folder into files plus a provenance manifest;
    /// entries whose recipe, model and versions are unchanged are not generated again.
    Bake(bake::BakeArgs),
    /// Re-generate what a bake folder's manifest records and report any drift (writes nothing).
    Verify(bake::VerifyArgs),
    /// Join the output folders of sharded bakes (`kiln bake --shard I/N`) into one.
    Merge(MergeArgs),
    /// Report which ONNX Runtime is found, which execution providers load, and whether models match their manifests.
    Doctor(ModelsDir),
    /// List the models and verify each ONNX file's sha256 against its manifest.
    Models(ModelsDir),
    /// Open Kiln studio: the editor panel in a window of its own, with a preview scene
    /// (runs the separately built `kiln-studio` app; exits with its code).
    Studio(studio::StudioArgs),
}

/// Arguments of `kiln merge`.
#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The shards' output folders.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Folder to merge into (created if needed; entries already there are kept).
    #[arg(long)]
    out: PathBuf,
}

/// Where models live.
#[derive(Debug, clap::Args)]
struct ModelsDir {
    /// Folder of model folders (`<name>/model.ron` + ONNX file).
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

/// Execution-provider choice shared by the commands that run models.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Execution provider: `auto` (CUDA if it loads, else CPU with a warning), `cpu`, or `cuda` (required).
    #[arg(long, default_value = "auto", value_parser = parse_policy)]
    ep: ProviderPolicy,
    /// Threads ONNX Runtime may use per operator (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn merge(args: &MergeArgs) -> anyhow::Result<Outcome> {
    match kiln_bake::merge(&args.shards, &args.out) {
        Ok(report) => {
            println!(
                "merged {} entries from {} shards into {} ({} files copied)",
                report.entries,
                args.shards.len(),
                args.out.display(),
                report.copied
            );
            Ok(Outcome::Success)
        }
        Err(kiln_bake::MergeError::Target(kiln_bake::BakeError::Busy { dir, lock })) => {
            eprintln!("error: {}", kiln_bake::BakeError::Busy { dir, lock });
            Ok(Outcome::Busy)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(Outcome::BadInput)
        }
    }
}

fn parse_policy(text: &str) -> Result<ProviderPolicy, String> {
    text.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.verbose { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    let outcome = match cli.command {
        Command::Studio(args) => return studio::run(&args),
        Command::Bake(args) => bake::run(&args),
        Command::Verify(args) => bake::verify(&args),
        Command::Merge(args) => merge(&args),
        Command::Doctor(dir) => doctor::run(&dir.models),
        Command::Models(dir) => models::run(&dir.models),
    };
    let outcome = outcome.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        Outcome::Environment
    });
    ExitCode::from(outcome as u8)
}
