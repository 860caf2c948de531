//! Bake planning: which recipe entries to make and where their files go.

use std::path::{Path, PathBuf};

use kiln_recipe::{AssetEntry, LoadError, RECIPE_EXTENSION, Recipe};

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
    /// The seed of variant `index`.
    pub fn seed(&self, index: u32) -> u64 {
        self.entry.seed.wrapping_add(u64::from(index))
    }
}

/// Every job found under a recipes folder, and every recipe that could not be read.
#[derive(Debug, Default)]
pub struct BakePlan {
    /// Jobs in a stable order (recipe path, then entry name).
    pub jobs: Vec<Job>,
    /// Recipes that failed to load; their entries are not baked.
    pub invalid: Vec<LoadError>,
}

impl BakePlan {
    /// Plans a bake of every `*.kiln.ron` below `dir` (searched recursively, in sorted order).
    pub fn from_dir(dir: &Path) -> std::io::Result<Self> {
        let mut recipes = Vec::new();
        find_recipes(dir, &mut recipes)?;
        recipes.sort();
        let mut plan = Self::default();
        for path in recipes {
            let label = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            match Recipe::load(&path) {
                Ok(recipe) => plan.add_recipe(&path, &label, recipe),
                Err(err) => plan.invalid.push(err),
            }
        }
        Ok(plan)
    }

    /// Adds every entry of one parsed recipe.
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

fn find_recipes(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_recipes(&path, found)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(&format!(".{RECIPE_EXTENSION}")))
        {
            found.push(path);
        }
    }
    Ok(())
}
