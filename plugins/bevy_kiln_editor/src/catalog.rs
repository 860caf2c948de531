//! What the panel lists: the recipes under the assets folder and the models under `models/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_bake::recipe_files;
use kiln_engine::ModelRegistry;
use kiln_recipe::{AssetEntry, AssetKind, ModelKind, ModelManifest, Recipe};

/// One recipe file, parsed or with the reason it cannot be.
#[derive(Clone, Debug)]
pub struct RecipeFile {
    /// Path relative to the assets folder, `/`-separated (`dungeon.kiln.ron`): the asset path
    /// and the label bake manifests record.
    pub label: String,
    /// Path on disk.
    pub path: PathBuf,
    /// The recipe, or the error message (file, line, column and the fix).
    pub recipe: Result<Recipe, String>,
}

/// The choices a model offers a recipe, read from its manifest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelChoices {
    /// Image models: material/sprite classes. Sequence models: conditions (text kinds, modes,
    /// or the sprite classes of a pixel-drawing model).
    pub classes: Vec<String>,
    /// Image models: output sides must be multiples of this.
    pub stride: Option<u32>,
    /// What the model makes.
    pub makes: Makes,
}

/// The kinds of entry a model can make.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Makes {
    /// Textures and sprites (an image generator).
    #[default]
    Images,
    /// Sprites only (a sequence model that draws one pixel per token).
    Pixels,
    /// Text, music and completions (a sequence model).
    Sequences,
}

impl ModelChoices {
    fn of(manifest: &ModelManifest) -> Self {
        match &manifest.kind {
            ModelKind::ImageGenerator(image) => Self {
                classes: image.classes.clone(),
                stride: image.stride,
                makes: Makes::Images,
            },
            ModelKind::SequenceGenerator(sequence) => Self {
                classes: sequence.conditions.clone(),
                stride: None,
                makes: match sequence.pixels {
                    Some(_) => Makes::Pixels,
                    None => Makes::Sequences,
                },
            },
        }
    }

    /// Whether the model can make an entry of `kind`.
    pub fn fits(&self, kind: &AssetKind) -> bool {
        match self.makes {
            Makes::Images => matches!(kind, AssetKind::Texture(_) | AssetKind::Sprite(_)),
            Makes::Pixels => matches!(kind, AssetKind::Sprite(_)),
            Makes::Sequences => matches!(
                kind,
                AssetKind::Text(_) | AssetKind::Music(_) | AssetKind::Completion(_)
            ),
        }
    }
}

/// Recipes and models as found on disk.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Recipe files, sorted by label.
    pub recipes: Vec<RecipeFile>,
    /// Models by name, or why their manifest cannot be read.
    pub models: BTreeMap<String, Result<ModelChoices, String>>,
}

impl Catalog {
    /// Reads every `*.kiln.ron` below `assets` and every model manifest in `models`.
    pub fn scan(assets: &Path, models: &Path) -> Self {
        let recipes = recipe_files(assets)
            .unwrap_or_default()
            .into_iter()
            .map(|(path, label)| RecipeFile {
                label,
                recipe: Recipe::load(&path).map_err(|err| err.to_string()),
                path,
            })
            .collect();
        let models = ModelRegistry::new(models)
            .list()
            .into_iter()
            .map(|model| {
                let choices = model
                    .manifest
                    .as_ref()
                    .map(ModelChoices::of)
                    .map_err(ToString::to_string);
                (model.name, choices)
            })
            .collect();
        Self { recipes, models }
    }

    /// The recipe file with `label`.
    pub fn recipe(&self, label: &str) -> Option<&RecipeFile> {
        self.recipes.iter().find(|recipe| recipe.label == label)
    }

    /// Entry `entry` of the recipe with `label`, if that recipe parses and has it.
    pub fn entry(&self, label: &str, entry: &str) -> Option<&AssetEntry> {
        self.recipe(label)?.recipe.as_ref().ok()?.assets.get(entry)
    }
}
