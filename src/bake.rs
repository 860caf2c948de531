//! `kiln bake`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_bake::{BAKE_MANIFEST_FILE, BakeError, BakeEvent, BakePlan, Baker, ModelRegistry};
use kiln_onnx::{SessionCache, SessionOptions};

use crate::{ModelsDir, Outcome, RunArgs};

/// Arguments of `kiln bake`.
#[derive(Debug, clap::Args)]
pub struct BakeArgs {
    /// Folder searched (recursively) for *.kiln.ron recipes.
    recipes: PathBuf,
    /// Output folder; files go to `<out>/<recipe>/<entry>/<variant>.png` with `kiln-bake.json` beside them.
    #[arg(long)]
    out: PathBuf,
    /// Entries generated in parallel.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    models: ModelsDir,
}

pub fn run(args: &BakeArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let plan = BakePlan::from_dir(&args.recipes)
        .with_context(|| format!("cannot read recipes folder {}", args.recipes.display()))?;
    for invalid in &plan.invalid {
        eprintln!("error: {invalid}");
    }
    let jobs = usize::from(args.jobs);
    let sessions = match SessionCache::new(SessionOptions {
        policy: args.run.ep,
        intra_threads: args.run.threads.or_else(|| default_threads(jobs)),
    }) {
        Ok(sessions) => sessions,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Environment);
        }
    };
    if let Err(err) = kiln_onnx::check_policy(sessions.runtime(), args.run.ep) {
        eprintln!("error: {err}");
        return Ok(Outcome::Environment);
    }

    let bar = ProgressBar::new(plan.jobs.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} baking [{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let registry = ModelRegistry::new(&args.models.models);
    let baker = Baker {
        sessions: &sessions,
        models: &registry,
        out_dir: &args.out,
        jobs,
    };
    let result = baker.bake(&plan.jobs, &|event| match event {
        BakeEvent::EntryDone { job, .. } => {
            bar.set_message(format!("{}#{}", job.recipe_label, job.entry_name));
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(err @ BakeError::Busy { .. }) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Busy);
        }
        Err(err) => return Err(err).context("the bake could not write its output folder"),
    };

    for failure in &report.failures {
        eprintln!(
            "error: {}#{}: {}",
            failure.recipe, failure.entry, failure.error
        );
    }
    let providers: Vec<String> = report
        .providers
        .iter()
        .map(|(p, n)| format!("{p} ×{n}"))
        .collect();
    println!(
        "baked {} files from {} of {} entries in {:.2}s into {} (execution provider: {}; ONNX Runtime {}; manifest {})",
        report.written.len(),
        plan.jobs.len() - report.failures.len(),
        plan.jobs.len(),
        started.elapsed().as_secs_f64(),
        args.out.display(),
        if providers.is_empty() {
            "none ran".to_owned()
        } else {
            providers.join(", ")
        },
        sessions.runtime().version(),
        BAKE_MANIFEST_FILE,
    );
    if !report.failures.is_empty() || !plan.invalid.is_empty() {
        eprintln!(
            "{} entries failed, {} recipes invalid; everything else was written",
            report.failures.len(),
            plan.invalid.len()
        );
    }
    Ok(if !plan.invalid.is_empty() {
        Outcome::BadInput
    } else if !report.failures.is_empty() {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}

/// With several jobs, share the cores between them rather than oversubscribing.
fn default_threads(jobs: usize) -> Option<usize> {
    (jobs > 1).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / jobs).max(1)
    })
}
