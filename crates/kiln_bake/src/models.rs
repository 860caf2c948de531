//! The models of one bake: each read, hashed and loaded once however many entries use it,
//! and the keys that decide which entries are up to date.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kiln_engine::{Engine, EngineError, HashCheck, Made, Model, ModelFiles, ModelRegistry};

use crate::Job;
use crate::scheduler::{locked, parallel};

/// Model files and loaded models of one bake, by model name.
pub(crate) struct BakeModels<'a> {
    engine: &'a Engine,
    registry: &'a ModelRegistry,
    files: Mutex<HashMap<String, Arc<ModelFiles>>>,
    loaded: Mutex<HashMap<String, Model>>,
}

impl<'a> BakeModels<'a> {
    pub(crate) fn new(engine: &'a Engine, registry: &'a ModelRegistry) -> Self {
        Self {
            engine,
            registry,
            files: Mutex::default(),
            loaded: Mutex::default(),
        }
    }

    /// Model `name`'s files, read once (a failed read is retried by the next entry, which
    /// reports it too).
    fn files(&self, name: &str) -> Result<Arc<ModelFiles>, EngineError> {
        let mut files = locked(&self.files);
        if let Some(read) = files.get(name) {
            return Ok(Arc::clone(read));
        }
        let read = self.registry.read(name)?;
        files.insert(name.to_owned(), Arc::clone(&read));
        Ok(read)
    }

    /// The licence model `name`'s manifest declares, when its files can be read (when they
    /// cannot, generating says why).
    pub(crate) fn licence(&self, name: &str) -> Option<String> {
        Some(self.files(name).ok()?.manifest().licence.clone())
    }

    /// Reads the models of `jobs` not read yet, up to `threads` at once: reading and hashing
    /// model files is most of a bake's start, before any entry can run. One that cannot be read
    /// is left out (the next [`BakeModels::files`] tries again and says why).
    fn read_ahead(&self, jobs: &[Job], threads: usize) {
        let missing: Vec<&str> = {
            let files = locked(&self.files);
            let mut names: Vec<&str> = jobs
                .iter()
                .map(|job| job.entry.model.as_str())
                .filter(|name| !files.contains_key(*name))
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        let read = parallel(threads, missing.len(), |n| self.registry.read(missing[n]));
        let mut files = locked(&self.files);
        for (name, read) in missing.into_iter().zip(read) {
            if let Ok(read) = read {
                files.insert(name.to_owned(), read);
            }
        }
    }

    /// Each job's key (see [`Job::key`]), or `None` where its model cannot be read or does not
    /// match its manifest's sha256 (the job then runs, and reports why). Models are read
    /// `threads` at a time.
    pub(crate) fn keys(&self, jobs: &[Job], threads: usize) -> Vec<Option<String>> {
        self.read_ahead(jobs, threads);
        let sessions = self.engine.sessions();
        let version = sessions.runtime().version();
        jobs.iter()
            .map(|job| {
                let files = self.files(&job.entry.model).ok()?;
                let provider = sessions.expected_provider(files.manifest()).to_string();
                files
                    .matches_manifest()
                    .then(|| job.key(files.content_sha256(), &provider, version))
            })
            .collect()
    }

    /// Model `name`, loaded once per bake; its bytes must be the ones its manifest names.
    pub(crate) fn model(&self, name: &str) -> Result<Model, EngineError> {
        let mut loaded = locked(&self.loaded);
        if let Some(model) = loaded.get(name) {
            return Ok(model.clone());
        }
        let model = self.engine.load(&*self.files(name)?, HashCheck::Strict)?;
        loaded.insert(name.to_owned(), model.clone());
        Ok(model)
    }

    /// Generates `job`'s variants with its model; `on_variant(i)` is called as variant `i` starts.
    pub(crate) fn make(
        &self,
        job: &Job,
        on_variant: &(dyn Fn(u32) + Sync),
    ) -> Result<(Model, Made), EngineError> {
        let model = self.model(&job.entry.model)?;
        let made = model.make(&job.entry_name, &job.entry, &job.seeds(), on_variant)?;
        Ok((model, made))
    }
}
