//! Running a bake: decide what is up to date, generate the rest in parallel, write and
//! record each entry as it completes, prune what the recipes no longer have.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use kiln_engine::{Credits, Engine, ModelRegistry};
use kiln_recipe::LicencePolicy;

use crate::encode::encode;
use crate::folder::{OutputOwners, lock_folder, remove_files, remove_partial_files};
use crate::models::BakeModels;
use crate::record::{EntryOutput, write_and_record};
use crate::scheduler::{locked, parallel};
use crate::{
    BAKE_JOURNAL_FILE, BakeError, EntryError, EntryFailure, Job, JournaledManifest, Shard,
};

/// How an entry ended in a bake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Generated; this many files written.
    Baked(usize),
    /// Its recorded files were made from the same inputs: nothing to do.
    UpToDate,
    /// Failed; its previous files, if any, are kept.
    Failed,
}

/// Progress of a running bake, for progress bars and logs.
#[derive(Debug)]
pub enum BakeEvent<'a> {
    /// An entry is done.
    EntryDone {
        /// The job.
        job: &'a Job,
        /// How it ended.
        status: EntryStatus,
    },
}

/// What a bake did.
#[derive(Debug, Default)]
pub struct BakeReport {
    /// Files written, relative to the output folder.
    pub written: Vec<String>,
    /// Entries whose files were already up to date.
    pub up_to_date: usize,
    /// Entries that failed.
    pub failures: Vec<EntryFailure>,
    /// Entries removed from the folder because their recipe no longer has them.
    pub pruned: Vec<String>,
    /// Entries the recipes no longer have but that were kept: they were all, or more than
    /// half, of the folder's entries (see [`Prune::Stale`]).
    pub kept_stale: Vec<String>,
    /// Execution providers that ran, with how many entries each.
    pub providers: Vec<(String, usize)>,
    /// Time spent inside ONNX Runtime's `session.run`, summed over entries (which may run in
    /// parallel): the rest of a bake's time is Kiln's own work.
    pub inference: Duration,
    /// What shipping the folder's files owes, by model (also in `CREDITS.md`).
    pub credits: Credits,
}

/// Which recorded entries that are not among a bake's jobs it removes, with their files.
#[derive(Clone, Copy, Debug)]
pub enum Prune<'p> {
    /// Keep them (baking a few selected entries).
    Nothing,
    /// Remove them, except those of `keep_recipes` (recipes that failed to load this time:
    /// their last good outputs stay) and those of other shards than `shard`.
    Stale {
        /// Recipe labels whose entries are kept.
        keep_recipes: &'p [String],
        /// The shard being baked: entries of other shards are never removed.
        shard: Shard,
        /// Remove them even when they are all, or more than half, of the folder's entries
        /// (otherwise they are kept and listed in [`BakeReport::kept_stale`]: an empty or
        /// unmounted recipes folder must not wipe a bake).
        mass: bool,
    },
}

/// Bakes jobs into an output folder with one engine.
#[derive(Debug)]
pub struct Baker<'a> {
    /// The engine (and so the session options) used for every model.
    pub engine: &'a Engine,
    /// Where models are found.
    pub models: &'a ModelRegistry,
    /// The output folder.
    pub out_dir: &'a Path,
    /// Most entries generated at once, sharing the cores (see [`SessionCache::share_cores`]:
    /// a bake with fewer entries to make runs each on more of them).
    ///
    /// [`SessionCache::share_cores`]: kiln_onnx::SessionCache::share_cores
    pub jobs: usize,
    /// Licences models may have (see [`crate::BakePlan::licences`]); any when `None`.
    pub licences: Option<&'a LicencePolicy>,
}

/// An entry that was baked.
struct Baked {
    files: Vec<String>,
    provider: String,
    inference: Duration,
}

impl Baker<'_> {
    /// Bakes the jobs that are not up to date, recording each in the folder's manifest as it
    /// completes (see [`crate::journal`]: killed at any moment, the folder stays consistent).
    /// Failed entries keep their previous files and records.
    pub fn bake(
        &self,
        jobs: &[Job],
        prune: Prune<'_>,
        on_event: &(dyn Fn(BakeEvent<'_>) + Sync),
    ) -> Result<BakeReport, BakeError> {
        let _lock = lock_folder(self.out_dir)?;
        remove_partial_files(self.out_dir);
        let manifest = Mutex::new(JournaledManifest::open(self.out_dir)?);
        let models = BakeModels::new(self.engine, self.models);
        let keys = models.keys(jobs, self.jobs);
        let owners = OutputOwners::new(jobs, locked(&manifest).manifest());

        let mut report = BakeReport::default();
        let mut todo = Vec::new();
        {
            let manifest = locked(&manifest);
            for (index, job) in jobs.iter().enumerate() {
                let fresh = keys[index]
                    .as_ref()
                    .is_some_and(|key| manifest.manifest().is_fresh(&job.id(), key, self.out_dir));
                if fresh && self.refusal(job, &owners, &models).is_none() {
                    report.up_to_date += 1;
                    on_event(BakeEvent::EntryDone {
                        job,
                        status: EntryStatus::UpToDate,
                    });
                } else {
                    todo.push(index);
                }
            }
        }

        // The largest textures start first: one left to run alone at the end would have only
        // its share of the cores while the other jobs' cores idle.
        todo.sort_by_key(|&index| std::cmp::Reverse(jobs[index].entry.texture_art_pixels()));
        if !todo.is_empty() {
            // Not for a bake with nothing to make: a watch re-bake would drop sessions for naught.
            self.engine
                .sessions()
                .share_cores(self.jobs.min(todo.len()));
        }
        let mut results = parallel(self.jobs, todo.len(), |n| {
            let index = todo[n];
            let job = &jobs[index];
            let result = match self.refusal(job, &owners, &models) {
                Some(refusal) => Err(refusal),
                None => self.bake_job(job, keys[index].as_deref(), &models, &manifest, &owners),
            };
            let status = match &result {
                Ok(baked) => EntryStatus::Baked(baked.files.len()),
                Err(_) => EntryStatus::Failed,
            };
            on_event(BakeEvent::EntryDone { job, status });
            (index, result)
        });

        results.sort_by_key(|(index, _)| *index);
        let mut manifest = manifest.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut providers: HashMap<String, usize> = HashMap::new();
        for (index, result) in results {
            let job = &jobs[index];
            match result {
                Ok(baked) => {
                    *providers.entry(baked.provider).or_default() += 1;
                    report.inference += baked.inference;
                    report.written.extend(baked.files);
                }
                Err(error) => report.failures.push(EntryFailure {
                    recipe: job.recipe_label.clone(),
                    entry: job.entry_name.clone(),
                    error,
                }),
            }
        }
        if let Prune::Stale {
            keep_recipes,
            shard,
            mass,
        } = prune
        {
            let baked: HashSet<String> = jobs.iter().map(Job::id).collect();
            let recorded = &manifest.manifest().entries;
            let stale: Vec<String> = recorded
                .iter()
                .filter(|(id, entry)| {
                    !baked.contains(*id)
                        && !keep_recipes.contains(&entry.recipe)
                        && shard.contains_id(id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            if !mass && !stale.is_empty() && (jobs.is_empty() || stale.len() * 2 > recorded.len()) {
                report.kept_stale = stale;
            } else {
                for id in stale {
                    self.prune(&mut manifest, &owners, &id)?;
                    report.pruned.push(id);
                }
            }
        }
        report.credits = manifest.manifest().file_credits();
        manifest
            .close()
            .map_err(self.io_error(crate::BAKE_MANIFEST_FILE))?;
        report.providers = providers.into_iter().collect();
        report.providers.sort();
        Ok(report)
    }

    /// Why `job` must not be baked (or stay in the folder as it is), if it must not: another
    /// entry owns its output folder, or its model's licence is outside the policy.
    fn refusal(
        &self,
        job: &Job,
        owners: &OutputOwners,
        models: &BakeModels<'_>,
    ) -> Option<EntryError> {
        if let Some(other) = owners.other_owner(job) {
            return Some(EntryError::OutputClash {
                output: job.output.clone(),
                other: other.to_owned(),
            });
        }
        let policy = self.licences?;
        let licence = models.licence(&job.entry.model)?;
        policy.check(&licence).err().map(EntryError::Licence)
    }

    /// Generates and encodes `job`, then writes and records it. Everything is generated and
    /// encoded before anything is touched, so a failing variant leaves the entry's previous
    /// files and record as they were.
    fn bake_job(
        &self,
        job: &Job,
        key: Option<&str>,
        models: &BakeModels<'_>,
        manifest: &Mutex<JournaledManifest>,
        owners: &OutputOwners,
    ) -> Result<Baked, EntryError> {
        let (model, made) = models.make(job, &|_| {})?;
        let files = encode(&made);
        let sessions = self.engine.sessions();
        let version = sessions.runtime().version();
        let provider = made.execution_provider.to_string();
        // Keyed by what actually ran where the key could not be known before.
        let key = key.map_or_else(
            || job.key(model.content_sha256(), &provider, version),
            str::to_owned,
        );
        let output = EntryOutput {
            job,
            made: &made,
            files,
            key,
            onnxruntime_version: version,
            owners,
        };
        let files = write_and_record(self.out_dir, output, manifest)?;
        Ok(Baked {
            files,
            provider,
            inference: made.inference,
        })
    }

    /// Forgets entry `id` and removes its files, except paths another entry has recorded or
    /// is baking now.
    fn prune(
        &self,
        manifest: &mut JournaledManifest,
        owners: &OutputOwners,
        id: &str,
    ) -> Result<(), BakeError> {
        if let Some(entry) = manifest
            .forget(id)
            .map_err(self.io_error(BAKE_JOURNAL_FILE))?
        {
            remove_files(self.out_dir, &entry.files, |path| {
                manifest.manifest().files.contains_key(path) || owners.owned_by_other(path, id)
            });
        }
        Ok(())
    }

    pub(crate) fn io_error(&self, file: &str) -> impl FnOnce(std::io::Error) -> BakeError {
        let path = self.out_dir.join(file);
        move |source| BakeError::Io { path, source }
    }
}
