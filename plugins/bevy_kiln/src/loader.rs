//! The recipe asset loader: parses a recipe, reads its models through the `models://` source
//! (so they become loader dependencies that trigger hot reload), and generates every entry on
//! the async compute pool.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, AssetPath, LoadContext, RenderAssetUsages};
use bevy::image::{
    Image, ImageAddressMode, ImageSampler, ImageSamplerDescriptor, TextureAtlasLayout,
};
use bevy::math::{URect, UVec2};
use bevy::prelude::*;
use bevy::tasks::AsyncComputeTaskPool;
use kiln_engine::{
    Content, EngineError, Engines, EntryFailed, HashCheck, Made, Model, ModelFiles, seeds,
};
use kiln_gen::AtlasLayout;
use kiln_recipe::{AssetEntry, LoadError, MANIFEST_FILE_NAME, RECIPE_EXTENSION, Recipe};
use serde::{Deserialize, Serialize};

use crate::messages::{AssetGenerated, GenerationFailed, Report};
use crate::plugin::{GeneratedEntry, KilnRecipe, KilnSettings, KilnStrings, MODELS_SOURCE};

/// Per-load options:
/// `asset_server.load_builder().with_settings(|s: &mut KilnLoadSettings| s.seed_offset = 7).load("x.kiln.ron")`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KilnLoadSettings {
    /// Added to every entry's seed: a game's "regenerate" key loads again with another offset.
    pub seed_offset: u64,
}

/// Loading or generating a recipe failed; the previous version of the asset stays in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KilnLoadError {
    /// The recipe cannot be read or is invalid; the message names the file, line and
    /// column.
    #[error(transparent)]
    Recipe(#[from] LoadError),
    /// A model's files cannot be read, or its manifest is invalid.
    #[error("model {model:?}: {source}")]
    Model {
        /// The model's name (its folder under `models/`).
        model: String,
        /// Why.
        #[source]
        source: EngineError,
    },
    /// ONNX Runtime is unavailable.
    #[error(transparent)]
    Runtime(EngineError),
    /// An entry could not be generated (its model does not load, or fails); the message
    /// names the entry.
    #[error(transparent)]
    Entry(#[from] EntryFailed),
}

/// Shared between the loader (any thread) and the app: settings, engines, generation results.
#[derive(Debug)]
pub(crate) struct LoaderState {
    pub(crate) settings: RwLock<KilnSettings>,
    engines: Engines,
    generated: Mutex<HashMap<String, GenerationSlot>>,
    reports: Mutex<Sender<Report>>,
}

/// One generation result, filled by whichever load gets there first.
type GenerationSlot = Arc<Mutex<Option<Arc<Made>>>>;

/// Results kept for reuse; past this many the cache starts afresh.
const GENERATION_CACHE_ENTRIES: usize = 256;

impl LoaderState {
    pub(crate) fn new(settings: KilnSettings, reports: Sender<Report>) -> Self {
        Self {
            settings: RwLock::new(settings),
            engines: Engines::default(),
            generated: Mutex::default(),
            reports: Mutex::new(reports),
        }
    }

    /// The engine for the current settings.
    fn engine(&self) -> Result<Arc<kiln_engine::Engine>, EngineError> {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        self.engines.get(settings.session_options())
    }

    /// The slot for one generation. Bevy starts a separate load of a file for each of its labels
    /// requested before the first load finishes (bevyengine/bevy#12756); sharing results by
    /// [`Model::generation_key`] runs each model once.
    fn generation_slot(&self, key: String) -> GenerationSlot {
        let mut slots = self.generated.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= GENERATION_CACHE_ENTRIES && !slots.contains_key(&key) {
            slots.clear();
        }
        Arc::clone(slots.entry(key).or_default())
    }

    fn report(&self, report: Report) {
        // The receiver lives as long as the app; a send after it is gone has nobody to tell.
        let _ = self
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(report);
    }
}

/// Loads `*.kiln.ron` recipes as [`KilnRecipe`]s with every entry's generated sub-assets.
#[derive(TypePath)]
pub struct KilnRecipeLoader {
    pub(crate) state: Arc<LoaderState>,
}

impl AssetLoader for KilnRecipeLoader {
    type Asset = KilnRecipe;
    type Settings = KilnLoadSettings;
    type Error = KilnLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        settings: &KilnLoadSettings,
        load_context: &mut LoadContext<'_>,
    ) -> Result<KilnRecipe, KilnLoadError> {
        let result = self.load_recipe(reader, settings, load_context).await;
        if let Err(error) = &result {
            self.state.report(Report::Failed(GenerationFailed {
                recipe: load_context.path().to_string(),
                error: error.to_string(),
            }));
        }
        result
    }

    fn extensions(&self) -> &[&str] {
        &[RECIPE_EXTENSION]
    }
}

impl KilnRecipeLoader {
    async fn load_recipe(
        &self,
        reader: &mut dyn Reader,
        settings: &KilnLoadSettings,
        load_context: &mut LoadContext<'_>,
    ) -> Result<KilnRecipe, KilnLoadError> {
        let recipe_path = load_context.path().path().to_path_buf();
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .await
            .map_err(|source| LoadError::Io {
                path: recipe_path.clone(),
                source,
            })?;
        let text = String::from_utf8(bytes).map_err(|err| LoadError::Invalid {
            path: recipe_path.clone(),
            message: format!("not UTF-8 text: {err}"),
        })?;
        #[cfg_attr(
            feature = "audio",
            expect(unused_mut, reason = "only filtered without audio")
        )]
        let mut recipe = Recipe::from_str(&text, &recipe_path)?;
        #[cfg(not(feature = "audio"))]
        recipe.assets.retain(|name, entry| {
            let music = matches!(entry.kind, kiln_recipe::AssetKind::Music(_));
            if music {
                warn!(
                    "{}#{name}: music needs bevy_kiln's `audio` feature; skipped",
                    recipe_path.display()
                );
            }
            !music
        });
        let engine = self.state.engine().map_err(KilnLoadError::Runtime)?;

        // Read every model first: each read registers a dependency, so a broken model still
        // reloads this recipe once it is fixed.
        let mut files = HashMap::new();
        for entry in recipe.assets.values() {
            if !files.contains_key(&entry.model) {
                let read = read_model(load_context, &entry.model).await;
                let read = read.map_err(|source| KilnLoadError::Model {
                    model: entry.model.clone(),
                    source,
                })?;
                files.insert(entry.model.clone(), read);
            }
        }

        let mut models: HashMap<String, Model> = HashMap::new();
        let mut entries = BTreeMap::new();
        for (name, entry) in recipe.assets {
            let entry_error = |error: EngineError| error.in_entry(&name);
            let model = match models.get(&entry.model) {
                Some(model) => model.clone(),
                None => {
                    // A model being retrained may not match its manifest's sha256 yet: warn.
                    let model = engine
                        .load(&files[&entry.model], HashCheck::Warn)
                        .map_err(entry_error)?;
                    models.insert(entry.model.clone(), model.clone());
                    model
                }
            };
            let seeds = seeds(&entry, settings.seed_offset);
            let slot = self
                .state
                .generation_slot(model.generation_key(&entry, &seeds));
            let started = Instant::now();
            let (made, fresh) = generate(slot, model, name.clone(), entry.clone(), seeds)
                .await
                .map_err(entry_error)?;
            let generated = add_assets(load_context, &made, &entry);
            if fresh {
                self.state.report(Report::Generated(AssetGenerated {
                    recipe: load_context.path().to_string(),
                    entry: name.clone(),
                    model: made.model.clone(),
                    model_sha256: made.model_sha256.clone(),
                    execution_provider: made.execution_provider.to_string(),
                    seeds: made.seeds.clone(),
                    elapsed: started.elapsed(),
                }));
            }
            entries.insert(name, generated);
        }
        Ok(KilnRecipe { entries })
    }
}

async fn read_model(
    load_context: &mut LoadContext<'_>,
    model: &str,
) -> Result<ModelFiles, EngineError> {
    let display = |file: &str| Path::new("models").join(model).join(file);
    let manifest_path = display(MANIFEST_FILE_NAME);
    let manifest_bytes =
        read_model_file(load_context, model, MANIFEST_FILE_NAME, &manifest_path).await?;
    let text = String::from_utf8(manifest_bytes).map_err(|err| EngineError::Read {
        path: manifest_path.clone(),
        message: format!("not UTF-8 text: {err}"),
    })?;
    let manifest = ModelFiles::parse_manifest(model, &text, &manifest_path)?;
    let onnx = read_model_file(
        load_context,
        model,
        &manifest.onnx,
        &display(&manifest.onnx),
    )
    .await?;
    let mut companions = Vec::new();
    for file in ModelFiles::companion_files(&manifest) {
        companions.push(read_model_file(load_context, model, file, &display(file)).await?);
    }
    ModelFiles::new(manifest, manifest_path, onnx, companions)
}

async fn read_model_file(
    load_context: &mut LoadContext<'_>,
    model: &str,
    file: &str,
    display: &Path,
) -> Result<Vec<u8>, EngineError> {
    let path = AssetPath::from(format!("{model}/{file}")).with_source(MODELS_SOURCE);
    let read = load_context.read_asset_bytes(path).await;
    read.map_err(|err| EngineError::Read {
        path: display.to_path_buf(),
        message: format!("{err} (is there a model folder {model:?} under models/?)"),
    })
}

/// Runs the model on the async compute pool, so neither a frame nor the IO pool waits on it.
/// Returns the result and whether it was made now (`false`: another load of the same
/// generation made it, or is making it and was waited for).
async fn generate(
    slot: GenerationSlot,
    model: Model,
    name: String,
    entry: AssetEntry,
    seeds: Vec<u64>,
) -> Result<(Arc<Made>, bool), EngineError> {
    AsyncComputeTaskPool::get()
        .spawn(async move {
            let mut done = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(made) = done.as_ref() {
                return Ok((Arc::clone(made), false));
            }
            let made = Arc::new(model.make(&name, &entry, &seeds, &|_| {})?);
            *done = Some(Arc::clone(&made));
            Ok((made, true))
        })
        .await
}

/// Adds what one entry made as labelled sub-assets (`<entry>/<i>`, `<entry>/<i>/normal`,
/// `<entry>/sheet`, `<entry>/atlas`, `<entry>/strings`).
fn add_assets(
    load_context: &mut LoadContext<'_>,
    made: &Made,
    entry: &AssetEntry,
) -> GeneratedEntry {
    let name = &made.entry;
    let mut generated = GeneratedEntry {
        model: entry.model.clone(),
        model_sha256: made.model_sha256.clone(),
        licence: made.licence.clone(),
        attribution: made.attribution.clone(),
        execution_provider: made.execution_provider.to_string(),
        seeds: made.seeds.clone(),
        ..GeneratedEntry::default()
    };
    match &made.content {
        Content::Textures(textures) => {
            for (i, texture) in textures.iter().enumerate() {
                let image = bevy_image(texture.image.clone().into(), true, repeat_sampler());
                generated
                    .images
                    .push(load_context.add_labeled_asset(format!("{name}/{i}"), image));
                generated.seam_scores.push(texture.seam_score);
                if let Some(normal) = &texture.normal_map {
                    let normal = bevy_image(normal.clone().into(), false, repeat_sampler());
                    generated
                        .normal_maps
                        .push(load_context.add_labeled_asset(format!("{name}/{i}/normal"), normal));
                }
            }
        }
        Content::Sprites(set) => {
            for (i, (_, sprite)) in set.sprites.iter().enumerate() {
                let image = bevy_image(sprite.clone().into(), true, ImageSampler::nearest());
                generated
                    .images
                    .push(load_context.add_labeled_asset(format!("{name}/{i}"), image));
            }
            let sheet = bevy_image(set.sheet.clone().into(), true, ImageSampler::nearest());
            generated.sheet = Some(load_context.add_labeled_asset(format!("{name}/sheet"), sheet));
            generated.atlas = Some(
                load_context.add_labeled_asset(format!("{name}/atlas"), atlas_layout(&set.layout)),
            );
        }
        Content::Strings(_) => {
            let strings = KilnStrings {
                entries: made.string_table(),
            };
            generated.strings =
                Some(load_context.add_labeled_asset(format!("{name}/strings"), strings));
        }
        #[cfg(feature = "audio")]
        Content::Loops(loops) => {
            for (i, music) in loops.iter().enumerate() {
                let source = bevy::audio::AudioSource {
                    bytes: music.wav.as_slice().into(),
                };
                generated
                    .audio
                    .push(load_context.add_labeled_asset(format!("{name}/{i}"), source));
            }
        }
        #[cfg(not(feature = "audio"))]
        Content::Loops(_) => {}
    }
    generated
}

fn repeat_sampler() -> ImageSampler {
    let mut descriptor = ImageSamplerDescriptor::linear();
    descriptor.set_address_mode(ImageAddressMode::Repeat);
    ImageSampler::Descriptor(descriptor)
}

fn bevy_image(image: image::DynamicImage, srgb: bool, sampler: ImageSampler) -> Image {
    let mut image = Image::from_dynamic(image, srgb, RenderAssetUsages::default());
    image.sampler = sampler;
    image
}

/// Converts Kiln's atlas layout into Bevy's.
pub(crate) fn atlas_layout(layout: &AtlasLayout) -> TextureAtlasLayout {
    TextureAtlasLayout {
        size: UVec2::new(layout.size.0, layout.size.1),
        textures: layout
            .textures
            .iter()
            .map(|rect| URect::new(rect.min.0, rect.min.1, rect.max.0, rect.max.1))
            .collect(),
    }
}
