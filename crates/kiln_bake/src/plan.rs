//! Bake planning: which recipe entries to make and where their files go.

use std::path::{Path, PathBuf};

use kiln_recipe::{AssetEntry, LicencePolicy, LoadError, RECIPE_EXTENSION, Recipe};

/// One recipe entry to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The recipe file.
    pub recipe: PathBuf,
    /// The recipe path as recorded in manifests: relative to the recipes folder, `/`-separated.
    pub recipe_label: String,
    /// Entry name inside the recipe.
    pub entry_name: String,
    /// The entry.
    pub entry: AssetEntry,
    /// Output folder relative to the bake's output folder (`<recipe stem>/<entry>` unless the entry says).
    pub output: String,
}

impl Job {
    /// The seed of every variant (see [`kiln_engine::seeds`]).
    pub fn seeds(&self) -> Vec<u64> {
        kiln_engine::seeds(&self.entry, 0)
    }

    /// The entry's id in bake manifests: `<recipe>#<entry>`.
    pub fn id(&self) -> String {
        format!("{}#{}", self.recipe_label, self.entry_name)
    }

    /// sha256 over everything that decides this entry's bytes: the entry (model name, seed,
    /// variants, output, kind and parameters), the model file's sha256, the execution provider
    /// and the ONNX Runtime and Kiln versions. Equal keys bake equal files.
    pub fn key(&self, model_sha256: &str, provider: &str, onnxruntime_version: &str) -> String {
        let inputs = serde_json::json!({
            "id": self.id(),
            "output": self.output,
            "entry": self.entry,
            "model_sha256": model_sha256,
            "execution_provider": provider,
            "onnxruntime_version": onnxruntime_version,
            "kiln_version": crate::KILN_VERSION,
        });
        kiln_onnx::sha256_hex(inputs.to_string().as_bytes())
    }

    /// Which of `count` shards bakes this entry: a hash of its id, so an entry stays on its
    /// shard when others are added or removed.
    pub fn shard(&self, count: u32) -> u32 {
        shard_of(&self.id(), count)
    }
}

/// Which of `count` shards bakes the entry with id `id` (see [`Job::shard`]).
fn shard_of(id: &str, count: u32) -> u32 {
    let hash = kiln_onnx::sha256_hex(id.as_bytes());
    let prefix = u64::from_str_radix(&hash[..16], 16).unwrap_or_default();
    (prefix % u64::from(count.max(1))) as u32
}

/// One part of a plan split for parallel bakes: shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// The whole plan.
    pub const ALL: Self = Self { index: 1, count: 1 };

    /// Whether this shard bakes `job`.
    pub fn contains(self, job: &Job) -> bool {
        self.contains_id(&job.id())
    }

    /// Whether this shard bakes the entry with id `id` (`<recipe>#<entry>`), baked or not.
    pub fn contains_id(self, id: &str) -> bool {
        shard_of(id, self.count) == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = text.split_once('/').and_then(|(index, count)| {
            Some((
                index.trim().parse::<u32>().ok()?,
                count.trim().parse::<u32>().ok()?,
            ))
        });
        match parsed {
            Some((index, count)) if (1..=count).contains(&index) => Ok(Self { index, count }),
            _ => Err(format!(
                "invalid shard {text:?}: write I/N with 1 <= I <= N, e.g. 2/4"
            )),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A recipes folder that cannot be planned at all (nothing is baked or pruned).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The folder, or a folder below it, cannot be read.
    #[error("{dir}: cannot read the recipes folder: {source}")]
    Folder {
        /// The recipes folder.
        dir: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Its licence policy is malformed: without it, nothing may be baked.
    #[error("{0}")]
    Licences(LoadError),
}

/// Every job found under a recipes folder, every recipe that could not be read, and the
/// folder's licence policy.
#[derive(Debug, Default)]
pub struct BakePlan {
    /// Jobs in a stable order (recipe path, then entry name).
    pub jobs: Vec<Job>,
    /// Recipes that failed to load; their entries are not baked.
    pub invalid: Vec<LoadError>,
    /// Labels of the recipes in `invalid`: their earlier outputs are kept, not pruned.
    pub invalid_labels: Vec<String>,
    /// The licences the folder's [`LICENCE_POLICY_FILE`](kiln_recipe::LICENCE_POLICY_FILE) allows models to have, if it has one.
    pub licences: Option<LicencePolicy>,
}

impl BakePlan {
    /// Plans a bake of every `*.kiln.ron` below `dir` (searched recursively, in sorted order)
    /// under the folder's licence policy.
    pub fn from_dir(dir: &Path) -> Result<Self, PlanError> {
        let mut plan = Self {
            licences: LicencePolicy::find(dir).map_err(PlanError::Licences)?,
            ..Self::default()
        };
        let recipes = recipe_files(dir).map_err(|source| PlanError::Folder {
            dir: dir.to_path_buf(),
            source,
        })?;
        for (path, label) in recipes {
            if Recipe::stem(&path).is_none() {
                plan.invalid.push(LoadError::Invalid {
                    message: format!(
                        "its name gives no folder for its outputs (the part before .{RECIPE_EXTENSION} must \
                         be UTF-8 text, not . or ..): rename it like \"dungeon.{RECIPE_EXTENSION}\""
                    ),
                    path,
                });
                plan.invalid_labels.push(label);
                continue;
            }
            match Recipe::load(&path) {
                Ok(recipe) => plan.add_recipe(&path, &label, recipe),
                Err(err) => {
                    plan.invalid.push(err);
                    plan.invalid_labels.push(label);
                }
            }
        }
        Ok(plan)
    }

    /// The jobs of one shard.
    pub fn shard(&self, shard: Shard) -> Vec<Job> {
        self.jobs
            .iter()
            .filter(|job| shard.contains(job))
            .cloned()
            .collect()
    }

    /// Adds every entry of one parsed recipe (whose file name has a [`Recipe::stem`]; entries
    /// without an `output` of their own go to `recipe/<entry>` otherwise).
    pub fn add_recipe(&mut self, path: &Path, label: &str, recipe: Recipe) {
        let stem = Recipe::stem(path).unwrap_or("recipe").to_owned();
        for (entry_name, entry) in recipe.assets {
            let output = entry
                .output
                .as_ref()
                .map_or_else(|| format!("{stem}/{entry_name}"), |o| o.as_str().to_owned());
            self.jobs.push(Job {
                recipe: path.to_path_buf(),
                recipe_label: label.to_owned(),
                entry_name,
                entry,
                output,
            });
        }
    }
}

/// Every `*.kiln.ron` below `dir` (recursively, sorted) with its label: the path relative to
/// `dir`, `/`-separated, as bake manifests record it.
pub fn recipe_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut recipes = Vec::new();
    find_recipes(dir, &mut Vec::new(), &mut recipes)?;
    recipes.sort();
    Ok(recipes
        .into_iter()
        .map(|path| {
            let label = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            (path, label)
        })
        .collect())
}

/// Adds the recipes below `dir` to `found`; `visited` holds the folders already searched, so
/// a symbolic link back up the tree is searched once, not forever.
fn find_recipes(
    dir: &Path,
    visited: &mut Vec<PathBuf>,
    found: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let real = dir.canonicalize()?;
    if visited.contains(&real) {
        return Ok(());
    }
    visited.push(real);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_recipes(&path, visited, found)?;
        } else if path
            .file_name()
            // Lossy, so a recipe whose name is not UTF-8 is found (and reported), not skipped.
            .is_some_and(|n| {
                n.to_string_lossy()
                    .ends_with(&format!(".{RECIPE_EXTENSION}"))
            })
        {
            found.push(path);
        }
    }
    Ok(())
}
