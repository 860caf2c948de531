//! `kiln doctor`.

use std::path::Path;

use kiln_bake::ModelRegistry;
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};

use crate::Outcome;

pub fn run(models_dir: &Path) -> anyhow::Result<Outcome> {
    let sessions = match SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(1),
    }) {
        Ok(sessions) => sessions,
        Err(err) => {
            println!("ONNX Runtime: NOT FOUND");
            eprintln!("error: {err}");
            return Ok(Outcome::Environment);
        }
    };
    let runtime = sessions.runtime();
    println!(
        "ONNX Runtime {} at {} (found: {})",
        runtime.version(),
        runtime.library_path().display(),
        runtime.source()
    );
    for skipped in runtime.skipped() {
        println!("  (no usable library in: {skipped})");
    }
    println!("execution providers:");
    println!("  cpu   loads");
    match kiln_onnx::cuda_status(runtime) {
        Ok(()) => println!("  cuda  loads"),
        Err(reason) => println!("  cuda  does not load: {reason}"),
    }

    let registry = ModelRegistry::new(models_dir);
    let models = registry.list();
    println!("models in {} ({}):", models_dir.display(), models.len());
    let mut broken = 0;
    for model in models {
        let status = model
            .manifest
            .map_err(|err| err.to_string())
            .and_then(|manifest| {
                sessions
                    .load_model(&manifest, &model.manifest_path)
                    .map(|session| {
                        format!("ok (sha256 {}…, contract matches)", &session.sha256()[..12])
                    })
                    .map_err(|err| err.to_string())
            });
        match status {
            Ok(status) => println!("  {:<20} {status}", model.name),
            Err(err) => {
                broken += 1;
                println!(
                    "  {:<20} FAILED: {}",
                    model.name,
                    err.replace('\n', "\n      ")
                );
            }
        }
    }
    Ok(if broken > 0 {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}
