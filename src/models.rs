//! `kiln models`.

use std::path::Path;

use kiln_engine::ModelRegistry;
use kiln_onnx::sha256_hex;
use kiln_recipe::ModelKind;

use crate::failure::{Failure, Kind, Outcome};

pub fn run(models_dir: &Path) -> Outcome {
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
                "    image generator, {:?}, {}; classes: {}",
                image.channels,
                image.stride.map_or("fixed size".to_owned(), |s| format!(
                    "any size in steps of {s}px"
                )),
                if image.classes.is_empty() {
                    "none".to_owned()
                } else {
                    image.classes.join(", ")
                }
            ),
            ModelKind::SequenceGenerator(sequence) => println!(
                "    sequence generator ({}, context {} tokens); conditions: {}",
                sequence.tokenizer,
                sequence.context,
                sequence.conditions.join(", ")
            ),
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
