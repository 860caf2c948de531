//! The editor without its UI: catalog, selection and draft, background generation and bakes,
//! pinning. The panel draws it and calls its actions; tests drive it directly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kiln_bake::{BakeError, BakePlan, Baker, Job, PlanError, Prune, write_atomic};
use kiln_engine::{
    EngineError, Engines, EntryFailed, HashCheck, ModelRegistry, SessionOptions, seeds,
};
use kiln_recipe::{AssetEntry, LoadError, replace_entry};

use crate::catalog::Catalog;
use crate::gallery::Gallery;

/// Where the editor reads recipes and models and bakes to.
#[derive(Clone, Debug)]
pub struct EditorPaths {
    /// Folder searched for `*.kiln.ron` recipes (the game's assets folder).
    pub assets: PathBuf,
    /// Folder of model folders.
    pub models: PathBuf,
    /// Output folder of bakes from the panel.
    pub bake: PathBuf,
}

/// The entry being edited.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Recipe label (`dungeon.kiln.ron`).
    pub recipe: String,
    /// Entry name.
    pub entry: String,
    /// Parameters as edited in the panel.
    pub draft: AssetEntry,
    /// Parameters as saved in the recipe file.
    pub saved: AssetEntry,
}

impl Selection {
    /// The draft differs from the file.
    pub fn is_dirty(&self) -> bool {
        self.draft != self.saved
    }

    /// `<recipe>#<entry>`, as bake manifests name entries.
    pub fn id(&self) -> String {
        format!("{}#{}", self.recipe, self.entry)
    }
}

/// A message for the designer; errors name the file and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// An error rather than information.
    pub error: bool,
    /// The message.
    pub message: String,
}

/// What a background task is doing, for the progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    /// What runs (`Generating dungeon.kiln.ron#floor`).
    pub what: String,
    /// Steps started (variants or entries).
    pub started: u32,
    /// Steps in all.
    pub total: u32,
    /// Time since it began.
    pub elapsed: Duration,
}

/// The outcome of the last bake from the panel.
#[derive(Clone, Debug)]
pub struct BakeSummary {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Files written.
    pub written: usize,
    /// Entries whose files were already up to date.
    pub up_to_date: usize,
    /// Failed entries with their errors.
    pub failures: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Why an action of the editor failed; shown as a notice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditorError {
    /// Generate was asked for with no entry selected.
    #[error("select a recipe entry to generate")]
    NoSelection,
    /// Generating the selected entry failed (its model, or the generation itself).
    #[error(transparent)]
    Generate(#[from] EntryFailed),
    /// Bake was asked for with no entry ticked.
    #[error("tick the entries to bake first")]
    NothingTicked,
    /// The bake could not run (its folder is busy or cannot be written).
    #[error(transparent)]
    Bake(#[from] BakeError),
    /// The assets folder cannot be planned (unreadable, or a malformed licence policy).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Pin was asked for before any generation.
    #[error("generate variants to pin one")]
    NoGallery,
    /// Pin was asked for a variant the gallery does not have.
    #[error("there is no variant {0}")]
    NoVariant(usize),
    /// A recipe could not be parsed or edited.
    #[error(transparent)]
    Recipe(#[from] LoadError),
    /// The recipe file was removed since it was scanned.
    #[error("{0}: no longer exists")]
    RecipeGone(String),
    /// The engine could not start (ONNX Runtime unavailable).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A file or folder could not be read or written.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The background worker could not start, or panicked.
    #[error("{0}")]
    Worker(String),
}

/// What a background task returns.
enum TaskResult {
    Generated(Result<Gallery, EditorError>),
    Baked(Result<BakeSummary, EditorError>),
}

struct Task {
    what: String,
    total: u32,
    started_steps: Arc<AtomicU32>,
    began: Instant,
    handle: JoinHandle<TaskResult>,
}

/// The editor's state and actions, without a UI: what the panel draws and calls.
///
/// ```
/// use bevy_kiln_editor::{Content, EditorPaths, Workbench};
/// use kiln_onnx::{ProviderPolicy, SessionOptions};
/// use kiln_testkit::{Models, Project};
///
/// let project = Project::new();
/// project.write(
///     "assets/level.kiln.ron",
///     r#"(assets: { "floor": (model: "tiny_texture", seed: 1, variants: 2,
///            kind: Texture(size: (32, 16), class: "moss")) })"#,
/// );
/// let mut workbench = Workbench::new(EditorPaths {
///     assets: project.path("assets"),
///     models: Models::Fixtures.dir(),
///     bake: project.path("baked"),
/// });
/// assert!(workbench.select("level.kiln.ron", "floor"));
/// workbench.generate(SessionOptions { policy: ProviderPolicy::Cpu, intra_threads: Some(1), sessions_per_model: 1 });
/// workbench.wait(); // a panel polls instead
/// let gallery = workbench.gallery().expect("two variants");
/// assert!(matches!(gallery.variants[1].content, Content::Image { size: [32, 16], .. }));
/// workbench.pin(1).expect("the recipe now holds variant 1's seed");
/// assert_eq!(workbench.selection().unwrap().saved.seed, 2);
/// ```
pub struct Workbench {
    paths: EditorPaths,
    catalog: Catalog,
    selection: Option<Selection>,
    gallery: Option<Gallery>,
    /// Incremented with every new gallery, so views can drop what they cached.
    gallery_generation: u64,
    /// Entries (`<recipe>#<entry>`) the Bake button bakes.
    pub bake_checked: BTreeSet<String>,
    last_bake: Option<BakeSummary>,
    notices: Vec<Notice>,
    task: Option<Task>,
    engines: Arc<Engines>,
    /// The models folder, keeping the models it read until one of their files changes.
    models: ModelRegistry,
}

/// Notices kept; older ones scroll away.
const NOTICES_KEPT: usize = 8;

impl Workbench {
    /// A workbench over `paths`, with the recipes and models found there.
    pub fn new(paths: EditorPaths) -> Self {
        let catalog = Catalog::scan(&paths.assets, &paths.models);
        Self {
            catalog,
            selection: None,
            gallery: None,
            gallery_generation: 0,
            bake_checked: BTreeSet::new(),
            last_bake: None,
            notices: Vec::new(),
            task: None,
            engines: Arc::default(),
            models: ModelRegistry::new(&paths.models),
            paths,
        }
    }

    /// Where recipes, models and bakes live.
    pub fn paths(&self) -> &EditorPaths {
        &self.paths
    }

    /// Recipes and models as last scanned.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reads recipes and models again. A selected entry follows its file; unsaved edits stay.
    pub fn rescan(&mut self) {
        self.catalog = Catalog::scan(&self.paths.assets, &self.paths.models);
        let Some(selection) = &mut self.selection else {
            return;
        };
        let on_disk = self.catalog.entry(&selection.recipe, &selection.entry);
        if let Some(saved) = on_disk.filter(|saved| **saved != selection.saved) {
            if !selection.is_dirty() {
                selection.draft = saved.clone();
            }
            selection.saved = saved.clone();
        }
    }

    /// Selects an entry of a recipe for editing; `false` if there is no such (valid) entry.
    pub fn select(&mut self, recipe: &str, entry: &str) -> bool {
        match self.catalog.entry(recipe, entry) {
            Some(saved) => {
                self.selection = Some(Selection {
                    recipe: recipe.to_owned(),
                    entry: entry.to_owned(),
                    draft: saved.clone(),
                    saved: saved.clone(),
                });
                true
            }
            None => false,
        }
    }

    /// The entry being edited.
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    /// The entry being edited, to change its draft.
    pub fn selection_mut(&mut self) -> Option<&mut Selection> {
        self.selection.as_mut()
    }

    /// The variants of the last generation.
    pub fn gallery(&self) -> Option<&Gallery> {
        self.gallery.as_ref()
    }

    /// Changes whenever [`Workbench::gallery`] does.
    pub fn gallery_generation(&self) -> u64 {
        self.gallery_generation
    }

    /// The last bake from the panel.
    pub fn last_bake(&self) -> Option<&BakeSummary> {
        self.last_bake.as_ref()
    }

    /// Recent messages, oldest first.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// Forgets the messages.
    pub fn clear_notices(&mut self) {
        self.notices.clear();
    }

    fn notify_error(&mut self, error: &EditorError) {
        self.notify(true, error.to_string());
    }

    fn notify(&mut self, error: bool, message: String) {
        if self.notices.len() == NOTICES_KEPT {
            self.notices.remove(0);
        }
        self.notices.push(Notice { error, message });
    }

    /// A generation or bake is running.
    pub fn is_busy(&self) -> bool {
        self.task.is_some()
    }

    /// What is running, if anything.
    pub fn progress(&self) -> Option<Progress> {
        self.task.as_ref().map(|task| Progress {
            what: task.what.clone(),
            started: task.started_steps.load(Ordering::Relaxed).min(task.total),
            total: task.total,
            elapsed: task.began.elapsed(),
        })
    }

    /// Generates the selected entry's draft in the background, as a bake would.
    pub fn generate(&mut self, options: SessionOptions) {
        let Some(selection) = self.selection.clone() else {
            return self.notify_error(&EditorError::NoSelection);
        };
        if self.is_busy() {
            return;
        }
        if self.catalog.recipe(&selection.recipe).is_none() {
            return self.notify_error(&EditorError::RecipeGone(selection.recipe));
        }
        let registry = self.models.clone();
        let engines = Arc::clone(&self.engines);
        self.spawn(
            format!("Generating {}", selection.id()),
            selection.draft.variants.get(),
            move |progress| {
                let began = Instant::now();
                let entry = &selection.draft;
                let generate_error =
                    |error: EngineError| EditorError::from(error.in_entry(selection.id()));
                let made = engines
                    .get(options)
                    .map_err(EditorError::Engine)
                    .and_then(|engine| {
                        let files = registry.read(&entry.model).map_err(generate_error)?;
                        let model = engine
                            .load(&files, HashCheck::Strict)
                            .map_err(generate_error)?;
                        model
                            .make(&selection.entry, entry, &seeds(entry, 0), &|variant| {
                                progress.store(variant + 1, Ordering::Relaxed)
                            })
                            .map_err(generate_error)
                    });
                TaskResult::Generated(made.map(|made| {
                    Gallery::new(
                        &selection.recipe,
                        &selection.entry,
                        entry,
                        made,
                        began.elapsed(),
                    )
                }))
            },
        );
    }

    /// Bakes the checked entries, as saved in their recipe files, into the bake folder through
    /// the same engine and manifest as `kiln bake` (other entries there are kept).
    pub fn bake(&mut self, options: SessionOptions) {
        if self.is_busy() {
            return;
        }
        if self.bake_checked.is_empty() {
            return self.notify_error(&EditorError::NothingTicked);
        }
        if let Some(selection) = self
            .selection
            .as_ref()
            .filter(|s| s.is_dirty() && self.bake_checked.contains(&s.id()))
        {
            let message = format!(
                "{}: bakes what the recipe file says; pin a variant to bake your edits",
                selection.id()
            );
            self.notify(false, message);
        }
        let checked = self.bake_checked.clone();
        let paths = self.paths.clone();
        let models = self.models.clone();
        let engines = Arc::clone(&self.engines);
        let total = u32::try_from(checked.len()).unwrap_or(u32::MAX);
        self.spawn(
            format!("Baking {} entries", checked.len()),
            total,
            move |progress| {
                let began = Instant::now();
                let result = engines
                    .get(options)
                    .map_err(EditorError::Engine)
                    .and_then(|engine| bake(&paths, &models, &engine, &checked, &progress))
                    .map(|mut summary| {
                        summary.elapsed = began.elapsed();
                        summary
                    });
                TaskResult::Baked(result)
            },
        );
    }

    fn spawn(
        &mut self,
        what: String,
        total: u32,
        work: impl FnOnce(Arc<AtomicU32>) -> TaskResult + Send + 'static,
    ) {
        let started_steps = Arc::new(AtomicU32::new(0));
        let progress = Arc::clone(&started_steps);
        let spawned = std::thread::Builder::new()
            .name("kiln-editor".to_owned())
            .spawn(move || work(progress));
        match spawned {
            Ok(handle) => {
                self.task = Some(Task {
                    what,
                    total,
                    started_steps,
                    began: Instant::now(),
                    handle,
                })
            }
            Err(err) => self.notify_error(&EditorError::Worker(format!(
                "cannot start a worker thread: {err}"
            ))),
        }
    }

    /// Collects a finished task's result; `true` when one finished.
    pub fn poll(&mut self) -> bool {
        if !self.task.as_ref().is_some_and(|t| t.handle.is_finished()) {
            return false;
        }
        let Some(task) = self.task.take() else {
            return false;
        };
        match task.handle.join() {
            Ok(TaskResult::Generated(Ok(gallery))) => {
                self.gallery = Some(gallery);
                self.gallery_generation += 1;
            }
            Ok(TaskResult::Baked(Ok(summary))) => {
                let message = format!(
                    "baked into {}: {} files written, {} entries up to date, {} failed",
                    summary.out_dir.display(),
                    summary.written,
                    summary.up_to_date,
                    summary.failures.len()
                );
                self.notify(!summary.failures.is_empty(), message);
                for failure in &summary.failures {
                    self.notify(true, failure.clone());
                }
                self.last_bake = Some(summary);
            }
            Ok(TaskResult::Generated(Err(error)) | TaskResult::Baked(Err(error))) => {
                self.notify_error(&error);
            }
            Err(_) => self.notify_error(&EditorError::Worker(format!(
                "{}: the worker thread panicked",
                task.what
            ))),
        }
        true
    }

    /// Waits for the running task, if any (tests and shutdown).
    pub fn wait(&mut self) {
        while self.is_busy() {
            if !self.poll() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Writes gallery variant `index`'s seed and the parameters it was made with into its
    /// recipe file (only that entry's text changes), so hot reload shows it in the game:
    /// the entry's variant 0 becomes this variant. Returns the recipe's path.
    pub fn pin(&mut self, index: usize) -> Result<PathBuf, EditorError> {
        let result = self.try_pin(index);
        match &result {
            Ok(path) => {
                let message = format!("pinned into {}", path.display());
                self.notify(false, message);
            }
            Err(error) => self.notify_error(error),
        }
        result
    }

    fn try_pin(&mut self, index: usize) -> Result<PathBuf, EditorError> {
        let gallery = self.gallery.as_ref().ok_or(EditorError::NoGallery)?;
        let variant = gallery
            .variants
            .get(index)
            .ok_or(EditorError::NoVariant(index))?;
        let mut entry = gallery.made_with.clone();
        entry.seed = variant.seed;
        let (recipe, name) = (gallery.recipe.clone(), gallery.entry.clone());
        let path = self
            .catalog
            .recipe(&recipe)
            .map(|file| file.path.clone())
            .ok_or_else(|| EditorError::RecipeGone(recipe.clone()))?;
        write_entry(&path, &name, &entry)?;
        self.rescan();
        if let Some(selection) = self
            .selection
            .as_mut()
            .filter(|s| s.recipe == recipe && s.entry == name)
        {
            selection.draft = entry.clone();
            selection.saved = entry;
        }
        Ok(path)
    }
}

/// Replaces entry `name` of the recipe at `path` in place, atomically.
fn write_entry(path: &Path, name: &str, entry: &AssetEntry) -> Result<(), EditorError> {
    let io_error = |action| {
        move |source| EditorError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let text = std::fs::read_to_string(path).map_err(io_error("read"))?;
    let edited = replace_entry(&text, path, name, entry)?;
    write_atomic(path, edited.as_bytes()).map_err(io_error("write"))
}

/// Bakes the `checked` entries found under the assets folder.
fn bake(
    paths: &EditorPaths,
    models: &ModelRegistry,
    engine: &kiln_engine::Engine,
    checked: &BTreeSet<String>,
    progress: &AtomicU32,
) -> Result<BakeSummary, EditorError> {
    let plan = BakePlan::from_dir(&paths.assets)?;
    let jobs: Vec<Job> = plan
        .jobs
        .iter()
        .filter(|job| checked.contains(&job.id()))
        .cloned()
        .collect();
    let in_checked_recipe = |label: &str| {
        checked
            .iter()
            .any(|id| id.starts_with(&format!("{label}#")))
    };
    let mut failures: Vec<String> = plan
        .invalid_labels
        .iter()
        .zip(&plan.invalid)
        .filter(|(label, _)| in_checked_recipe(label))
        .map(|(_, err)| err.to_string())
        .collect();
    let found: BTreeSet<String> = jobs.iter().map(Job::id).collect();
    failures.extend(checked.difference(&found).map(|id| {
        format!("{id}: not in the recipe any more (or the recipe is invalid); untick it")
    }));
    let baker = Baker {
        engine,
        models,
        out_dir: &paths.bake,
        jobs: 1,
        licences: plan.licences.as_ref(),
    };
    let report = baker.bake(&jobs, Prune::Nothing, &|_| {
        progress.fetch_add(1, Ordering::Relaxed);
    })?;
    failures.extend(
        report
            .failures
            .iter()
            .map(|f| format!("{}#{}: {}", f.recipe, f.entry, f.error)),
    );
    Ok(BakeSummary {
        out_dir: paths.bake.clone(),
        written: report.written.len(),
        up_to_date: report.up_to_date,
        failures,
        elapsed: Duration::ZERO,
    })
}
