//! `kiln`: bake machine-learned game assets from recipes, and check the set-up that bakes them.

mod bake;
mod doctor;
mod failure;
mod models;
mod studio;
mod watch;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_onnx::ProviderPolicy;

use crate::failure::{EXIT_CODES, Outcome};

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
    /// List the models with their licences and training data, and verify each ONNX file's
    /// sha256 against its manifest; `kiln models add <file.onnx>` brings in an exported model.
    Models(models::ModelsArgs),
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
pub struct ModelsDir {
    /// Folder of model folders (`<name>/model.ron` + ONNX file).
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
}

/// Execution-provider choice shared by the commands that run models.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Execution provider: `auto` (CUDA if it loads, else CPU with a warning; text and music always on the CPU, faster there), `cpu`, or `cuda` (required).
    #[arg(long, default_value = "auto", value_parser = parse_policy)]
    ep: ProviderPolicy,
    /// Threads ONNX Runtime may use per operator (default: all cores; at most 256).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

fn merge(args: &MergeArgs) -> Outcome {
    let report = kiln_bake::merge(&args.shards, &args.out)?;
    println!(
        "merged {} entries from {} shards into {} ({} files copied)",
        report.entries,
        args.shards.len(),
        args.out.display(),
        report.copied
    );
    Ok(())
}

fn parse_policy(text: &str) -> Result<ProviderPolicy, String> {
    text.parse()
}

fn main() -> ExitCode {
    // SAFETY: first thing in `main`: no other thread has started.
    unsafe { kiln_onnx::disable_telemetry() };
    let cli = Cli::parse();
    // notify warns when it stops watching a deleted folder, which `--watch` expects.
    let filter = if cli.verbose {
        "info"
    } else {
        "warn,notify=error"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .init();
    let outcome = match cli.command {
        Command::Studio(args) => match studio::run(&args) {
            // The studio app's own exit code, passed on.
            Ok(code) => return ExitCode::from(code),
            Err(failure) => Err(failure),
        },
        Command::Bake(args) => bake::run(&args),
        Command::Verify(args) => bake::verify(&args),
        Command::Merge(args) => merge(&args),
        Command::Doctor(dir) => doctor::run(&dir.models),
        Command::Models(args) => models::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message {
                eprintln!("error: {message}");
            }
            ExitCode::from(failure.kind as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Kind;

    #[test]
    fn every_kind_has_its_own_code_and_a_line_in_the_help_table() {
        let kinds = [
            Kind::Partial,
            Kind::BadInput,
            Kind::Unavailable,
            Kind::Busy,
            Kind::Output,
        ];
        for (expected, kind) in (1u8..).zip(kinds) {
            assert_eq!(kind as u8, expected);
            assert!(
                EXIT_CODES.contains(&format!("\n  {expected}  ")),
                "{kind:?} is missing from the help table"
            );
            assert!(
                include_str!("../README.md").contains(&format!("\n| {expected} | ")),
                "{kind:?} is missing from the README's table"
            );
        }
    }
}
