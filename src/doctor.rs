//! `kiln doctor`.

use std::path::Path;

use kiln_engine::{Engine, HashCheck, ModelRegistry, SessionOptions};
use kiln_onnx::ProviderPolicy;

use crate::failure::{Failure, Kind, Outcome};

pub fn run(models_dir: &Path) -> Outcome {
    let engine = Engine::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })
    .inspect_err(|_| println!("ONNX Runtime: NOT FOUND"))?;
    let runtime = engine.sessions().runtime();
    println!(
        "ONNX Runtime {} at {} (found: {})",
        runtime.version(),
        runtime.library_path().display(),
        runtime.source()
    );
    for skipped in runtime.skipped() {
        println!("  (no usable library in: {skipped})");
    }
    let telemetry = kiln_onnx::NO_TELEMETRY_ENV;
    match std::env::var(telemetry).as_deref() {
        Ok("1") => println!("  telemetry: off ({telemetry}=1)"),
        value => println!(
            "  telemetry: {telemetry}={}: only 1 is known to stop Microsoft's builds recording \
             it (README, \"Telemetry\")",
            value.unwrap_or("")
        ),
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
        let status = registry
            .read(&model.name)
            .and_then(|files| engine.load(&files, HashCheck::Strict))
            .map(|loaded| {
                let sha256 = loaded.session().sha256();
                format!("ok (sha256 {}…, contract matches)", &sha256[..12])
            })
            .map_err(|err| err.to_string());
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
    if broken > 0 {
        return Err(Failure::reported(Kind::Partial));
    }
    Ok(())
}
