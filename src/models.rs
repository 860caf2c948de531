//! `kiln models` and `kiln models add`.

use std::path::{Path, PathBuf};

use kiln_engine::ModelRegistry;
use kiln_import::{ImportError, ImportOptions, add_model};
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions, sha256_hex};
use kiln_recipe::ModelKind;

use crate::ModelsDir;
use crate::failure::{Failure, Kind, Outcome};

/// Arguments of `kiln models`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Option<ModelsAction>,
    #[command(flatten)]
    dir: ModelsDir,
}

#[derive(Debug, clap::Subcommand)]
enum ModelsAction {
    /// Bring in an exported ONNX model: recognise an image generator or a decoder from its
    /// inputs and outputs, copy it (and its tokenizer.json) into the models folder and write
    /// its model.ron, complete or as a draft whose gaps `kiln doctor` lists.
    Add(AddArgs),
}

/// Arguments of `kiln models add`.
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The ONNX file.
    file: PathBuf,
    /// Model name, its folder under the models folder (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    /// A decoder's tokenizer.json (default: the one beside the ONNX file).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// SPDX licence of the weights, e.g. MIT or CC-BY-4.0 (otherwise left to fill in).
    #[arg(long)]
    licence: Option<String>,
    #[command(flatten)]
    dir: ModelsDir,
}

pub fn run(args: &ModelsArgs) -> Outcome {
    match &args.action {
        Some(ModelsAction::Add(add)) => run_add(add),
        None => list(&args.dir.models),
    }
}

fn run_add(args: &AddArgs) -> Outcome {
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })?;
    let options = ImportOptions {
        name: args.name.as_deref(),
        tokenizer: args.tokenizer.as_deref(),
        licence: args.licence.as_deref(),
    };
    let imported =
        add_model(&args.file, &args.dir.models, &options, &sessions).map_err(|error| {
            let kind = match &error {
                ImportError::Write { .. } => Kind::Output,
                ImportError::Unloadable { .. } => Kind::Partial,
                _ => Kind::BadInput,
            };
            Failure::new(kind, error)
        })?;
    println!(
        "added {} ({})",
        imported.folder.display(),
        imported.recognised
    );
    if imported.left.is_empty() {
        println!(
            "its model.ron is complete and matches the model: use it in a recipe as model: {:?}",
            imported
                .folder
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        );
    } else {
        println!(
            "its model.ron is a draft: fill in {} {}, then run `kiln doctor`:\n  - {}",
            imported.left.len(),
            if imported.left.len() == 1 {
                "line"
            } else {
                "lines"
            },
            imported.left.join("\n  - ")
        );
    }
    Ok(())
}

fn list(models_dir: &Path) -> Outcome {
    let models = ModelRegistry::new(models_dir).list();
    if models.is_empty() {
        return Err(Failure::new(
            Kind::BadInput,
            format!(
                "no models (folders with model.ron) in {}: give the models folder with --models",
                models_dir.display()
            ),
        ));
    }
    let mut bad = 0;
    for model in models {
        let manifest = match model.manifest {
            Ok(manifest) => manifest,
            Err(err) => {
                bad += 1;
                println!("{:<20} INVALID MANIFEST: {err}", model.name);
                continue;
            }
        };
        let onnx = manifest.onnx_path(&model.manifest_path);
        let verdict = match std::fs::read(&onnx) {
            Ok(bytes) if sha256_hex(&bytes).eq_ignore_ascii_case(&manifest.sha256) => {
                format!("sha256 ok, {} KiB", bytes.len().div_ceil(1024))
            }
            Ok(bytes) => {
                bad += 1;
                format!(
                    "SHA256 MISMATCH: file {} vs manifest {}",
                    sha256_hex(&bytes),
                    manifest.sha256
                )
            }
            Err(err) => {
                bad += 1;
                format!("MISSING {}: {err}", onnx.display())
            }
        };
        println!("{:<20} {verdict}", manifest.name);
        println!("    {}", manifest.description);
        match &manifest.kind {
            ModelKind::ImageGenerator(image) => println!(
                "    image generator, {:?}, {}{}; classes: {}",
                image.channels,
                image.stride.map_or("fixed size".to_owned(), |s| format!(
                    "any size in steps of {s}px"
                )),
                image
                    .palettes
                    .as_ref()
                    .map_or(String::new(), |file| format!(
                        ", drawn in its art palettes ({file})"
                    )),
                if image.classes.is_empty() {
                    "none".to_owned()
                } else {
                    image.classes.join(", ")
                }
            ),
            ModelKind::SequenceGenerator(sequence) => match sequence.pixels {
                None => println!(
                    "    sequence generator ({}, context {} tokens); conditions: {}",
                    sequence.tokenizer,
                    sequence.context,
                    sequence.conditions.join(", ")
                ),
                Some(grid) => println!(
                    "    pixel-art generator, {}×{} sprites drawn {} per token ({}); classes: {}",
                    grid.width,
                    grid.height,
                    match grid.block.area() {
                        1 => "one pixel".to_owned(),
                        _ => format!("a {}×{} block", grid.block.width, grid.block.height),
                    },
                    sequence.tokenizer,
                    sequence.conditions.join(", ")
                ),
            },
        }
        println!(
            "    licence {}; trained by {}",
            manifest.licence, manifest.provenance.training_script
        );
        for data in &manifest.provenance.data {
            println!(
                "    trained on {} ({}, {})",
                data.name, data.source, data.licence
            );
        }
        if let Some(credit) = &manifest.attribution {
            println!("    attribution to ship with its output: {credit}");
        }
    }
    if bad > 0 {
        return Err(Failure::reported(Kind::Partial));
    }
    Ok(())
}
