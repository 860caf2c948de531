//! `kiln bake` and `kiln verify`.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kiln_bake::{
    BAKE_MANIFEST_FILE, BakeEvent, BakePlan, Baker, CREDITS_FILE, EntryError, EntryStatus,
    PlanError, Prune, Shard,
};
use kiln_engine::{Engine, EngineError, ModelRegistry, SessionOptions};
use kiln_recipe::LoadError;

use crate::failure::{Failure, Kind, Outcome};
use crate::{ModelsDir, RunArgs};

/// Arguments of `kiln bake`.
#[derive(Debug, clap::Args)]
pub struct BakeArgs {
    #[command(flatten)]
    target: Target,
    /// Keep running: re-bake what changes to recipes or models affect (Ctrl-C to stop).
    #[arg(long)]
    watch: bool,
    /// Remove the entries the recipes no longer have even when they are all, or more than
    /// half, of the folder's entries (without it they are kept and the bake exits 1).
    #[arg(long)]
    prune: bool,
}

/// Arguments of `kiln verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: Target,
    /// Largest per-channel difference (0-255) accepted where a GPU provider made the recorded
    /// or the regenerated image; CPU results must match bit for bit.
    #[arg(long, default_value_t = 2)]
    gpu_tolerance: u8,
}

/// Entries a bake makes at once unless `--jobs` says otherwise. On two cores a second entry
/// beside the first baked the example recipes in 4.3 s instead of 5.5 (docs/benchmarks.md,
/// session 16: a decoder step, or a small image, keeps one core busy but not two) and cost
/// nothing on two 1024² textures; a bake with a single entry to make runs it on every core.
const DEFAULT_JOBS: u16 = 2;

/// What a bake or verify works on.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Folder searched (recursively) for *.kiln.ron recipes.
    pub recipes: PathBuf,
    /// Output folder; files go to `<out>/<recipe>/<entry>/<variant>.png` with `kiln-bake.json` beside them.
    #[arg(long)]
    pub out: PathBuf,
    /// Most entries generated at once, each on a session of its own (made as needed), the
    /// cores shared between those that run unless `--threads` says otherwise (a bake of one
    /// entry runs it on every core).
    #[arg(long, default_value_t = DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Only this part of the plan: shard I of N (1-based), e.g. `--shard 2/4` in a CI matrix;
    /// join the shards' folders with `kiln merge`.
    #[arg(long, default_value = "1/1", value_parser = parse_shard)]
    pub shard: Shard,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub models: ModelsDir,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse()
}

/// A target's engine and models, set up once (and kept across watch re-bakes).
pub struct Setup<'t> {
    pub target: &'t Target,
    pub engine: Engine,
    pub registry: ModelRegistry,
    /// `--prune`: stale entries go even when they are most of the folder.
    pub prune: bool,
}

impl<'t> Setup<'t> {
    /// Loads ONNX Runtime and checks the provider policy.
    pub fn new(target: &'t Target, prune: bool) -> Result<Self, Failure> {
        let engine = Engine::new(SessionOptions {
            policy: target.run.ep,
            // Otherwise each bake shares the cores between the entries it runs at once.
            intra_threads: target.run.threads.map(usize::from),
            sessions_per_model: usize::from(target.jobs),
        })?;
        kiln_onnx::check_policy(engine.sessions().runtime(), target.run.ep)?;
        Ok(Self {
            target,
            engine,
            registry: ModelRegistry::new(&target.models.models),
            prune,
        })
    }

    /// The baker of `plan`'s jobs, under its licence policy.
    pub fn baker<'p>(&'p self, plan: &'p BakePlan) -> Baker<'p> {
        Baker {
            engine: &self.engine,
            models: &self.registry,
            out_dir: &self.target.out,
            jobs: usize::from(self.target.jobs),
            licences: plan.licences.as_ref(),
        }
    }

    /// The plan, with its invalid recipes reported.
    pub fn plan(&self) -> Result<BakePlan, Failure> {
        let recipes = &self.target.recipes;
        let plan = BakePlan::from_dir(recipes).map_err(|err| {
            let fix = match err {
                PlanError::Folder { .. } if recipes.is_dir() => "; check its permissions",
                PlanError::Folder { .. } => "; give the folder that holds your *.kiln.ron recipes",
                _ => "",
            };
            Failure::new(Kind::BadInput, format!("{err}{fix}"))
        })?;
        for invalid in &plan.invalid {
            eprintln!("error: {invalid}");
        }
        Ok(plan)
    }

    /// Bakes the plan's shard once, printing progress and a summary.
    pub fn bake(&self) -> Outcome {
        let started = Instant::now();
        let inference_before = kiln_onnx::inference_wall_time();
        let plan = self.plan()?;
        let jobs = plan.shard(self.target.shard);
        let bar = ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{spinner} baking [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let prune = Prune::Stale {
            keep_recipes: &plan.invalid_labels,
            shard: self.target.shard,
            mass: self.prune,
        };
        let result = self.baker(&plan).bake(&jobs, prune, &|event| match event {
            BakeEvent::EntryDone { job, status } => {
                if status != EntryStatus::UpToDate {
                    bar.set_message(format!("{}#{}", job.recipe_label, job.entry_name));
                }
                bar.inc(1);
            }
        });
        bar.finish_and_clear();
        let report = result?;

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
        let shard = match self.target.shard {
            Shard::ALL => String::new(),
            shard => format!(" (shard {shard} of {} entries)", plan.jobs.len()),
        };
        println!(
            "baked {} files from {} of {} entries{shard}, {} up to date{} in {:.2}s ({:.2}s in session.run, {:.2}s with one in flight) into {} (execution provider: {}; ONNX Runtime {}; manifest {})",
            report.written.len(),
            jobs.len() - report.failures.len() - report.up_to_date,
            jobs.len(),
            report.up_to_date,
            if report.pruned.is_empty() {
                String::new()
            } else {
                format!(", {} removed", report.pruned.len())
            },
            started.elapsed().as_secs_f64(),
            report.inference.as_secs_f64(),
            (kiln_onnx::inference_wall_time() - inference_before).as_secs_f64(),
            self.target.out.display(),
            if providers.is_empty() {
                "none ran".to_owned()
            } else {
                providers.join(", ")
            },
            self.engine.sessions().runtime().version(),
            BAKE_MANIFEST_FILE,
        );
        for (model, credit) in report.credits.iter() {
            if let Some(attribution) = &credit.attribution {
                println!(
                    "attribution required by {model} ({}), ship it with the files: {attribution}",
                    credit.licence
                );
            }
        }
        if !report.credits.is_empty() {
            println!(
                "credits for every model used: {}",
                self.target.out.join(CREDITS_FILE).display()
            );
        }
        if !report.failures.is_empty() || !plan.invalid.is_empty() {
            eprintln!(
                "{} entries failed, {} recipes invalid; everything else was written and earlier outputs kept",
                report.failures.len(),
                plan.invalid.len()
            );
        }
        if !report.kept_stale.is_empty() {
            eprintln!(
                "error: kept {} baked entries that no recipe under {} has any more (all, or more \
                 than half, of the folder): is the recipes folder empty or not mounted? If they \
                 are meant to go, bake again with --prune",
                report.kept_stale.len(),
                self.target.recipes.display()
            );
        }
        // A malformed model manifest is invalid input like a malformed recipe.
        let malformed_model = report.failures.iter().any(|failure| {
            matches!(
                failure.error,
                EntryError::Engine(EngineError::Manifest(LoadError::Syntax { .. }))
            )
        });
        partial_unless(
            plan.invalid.is_empty() && !malformed_model,
            report.failures.is_empty() && report.kept_stale.is_empty(),
        )
    }
}

/// Invalid recipes or model manifests make a bad-input failure, failed entries a partial one
/// (both already printed).
fn partial_unless(all_input_valid: bool, nothing_failed: bool) -> Outcome {
    if !all_input_valid {
        Err(Failure::reported(Kind::BadInput))
    } else if !nothing_failed {
        Err(Failure::reported(Kind::Partial))
    } else {
        Ok(())
    }
}

pub fn run(args: &BakeArgs) -> Outcome {
    let setup = Setup::new(&args.target, args.prune)?;
    let outcome = setup.bake();
    if args.watch {
        return crate::watch::run(&setup);
    }
    // The process ends next: the system takes back its sessions and buffers at once, where
    // dropping them frees ONNX Runtime's arenas piece by piece (30–90 ms on the example
    // recipes). Everything the bake writes is written and closed by now.
    std::mem::forget(setup);
    outcome
}

pub fn verify(args: &VerifyArgs) -> Outcome {
    let setup = Setup::new(&args.target, false)?;
    let started = Instant::now();
    let plan = setup.plan()?;
    let jobs = plan.shard(args.target.shard);
    let report = setup.baker(&plan).verify(&jobs, args.gpu_tolerance)?;
    for finding in &report.findings {
        println!("{finding}");
    }
    let failures = report.findings.iter().filter(|f| f.is_failure()).count();
    println!(
        "verified {} files of {} entries against {} in {:.2}s: {}",
        report.files,
        report.entries,
        args.target.out.join(BAKE_MANIFEST_FILE).display(),
        started.elapsed().as_secs_f64(),
        if failures == 0 {
            "no drift".to_owned()
        } else {
            format!("{failures} problems")
        }
    );
    partial_unless(plan.invalid.is_empty(), failures == 0)
}
