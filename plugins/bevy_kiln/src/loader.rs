//! The recipe asset loader: parses a recipe, reads its models through the `models://` source
//! (so they become loader dependencies that trigger hot reload), and generates every entry on
//! the async compute pool.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
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
use kiln_gen::{AtlasLayout, ImageGenerator, make_sprites, make_textures};
use kiln_music::make_loop;
use kiln_onnx::{
    HashCheck, ModelSession, RuntimeError, SessionCache, SessionError, SessionOptions,
};
use kiln_recipe::{
    AssetEntry, AssetKind, LoadError, MANIFEST_FILE_NAME, ModelKind, ModelManifest,
    RECIPE_EXTENSION, Recipe,
};
use kiln_seq::{Flavour, SequenceModel, make_flavour};
use serde::{Deserialize, Serialize};

use crate::messages::{AssetGenerated, GenerationFailed, Report};
use crate::plugin::{KilnRecipe, KilnSettings, KilnStrings, MODELS_SOURCE, RecipeEntry};

/// Per-load options:
/// `asset_server.load_builder().with_settings(|s: &mut KilnLoadSettings| s.seed_offset = 7).load("x.kiln.ron")`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KilnLoadSettings {
    /// Added to every entry's seed: a game's "regenerate" key loads again with another offset.
    pub seed_offset: u64,
}

/// Loading or generating a recipe failed; the previous version of the asset stays in place.
#[derive(Debug, thiserror::Error)]
pub enum KilnLoadError {
    /// The recipe or a model file could not be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The recipe or a model manifest is invalid (with file, line and column).
    #[error(transparent)]
    Format(#[from] LoadError),
    /// ONNX Runtime is unavailable.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A model could not be loaded into ONNX Runtime or does not match its manifest.
    #[error("{entry}: {source}")]
    Session {
        /// Recipe entry.
        entry: String,
        /// Why.
        source: SessionError,
    },
    /// A model failed to generate.
    #[error("{entry}: {source}")]
    Generate {
        /// Recipe entry.
        entry: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Shared between the loader (any thread) and the app: settings and session caches.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) settings: RwLock<KilnSettings>,
    caches: Mutex<HashMap<SessionOptions, Arc<SessionCache>>>,
    generated: Mutex<HashMap<String, GenerationSlot>>,
    reports: Mutex<Sender<Report>>,
}

/// One generation result, filled by whichever load gets there first.
type GenerationSlot = Arc<Mutex<Option<Arc<Generated>>>>;

/// Results kept for reuse; past this many the cache starts afresh.
const GENERATION_CACHE_ENTRIES: usize = 256;

impl Engine {
    pub(crate) fn new(settings: KilnSettings, reports: Sender<Report>) -> Self {
        Self {
            settings: RwLock::new(settings),
            caches: Mutex::default(),
            generated: Mutex::default(),
            reports: Mutex::new(reports),
        }
    }

    /// The session cache for the current settings (one per distinct settings, kept for reuse).
    fn sessions(&self) -> Result<Arc<SessionCache>, RuntimeError> {
        let options = self
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .session_options();
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cache) = caches.get(&options) {
            return Ok(Arc::clone(cache));
        }
        let cache = Arc::new(SessionCache::new(options)?);
        caches.insert(options, Arc::clone(&cache));
        Ok(cache)
    }

    /// The slot for one generation. Bevy starts a separate load of a file for each of its labels
    /// requested before the first load finishes (bevyengine/bevy#12756); sharing results by
    /// what determines them (model bytes, parameters, seeds, provider) runs each model once.
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
    pub(crate) engine: Arc<Engine>,
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
            self.engine.report(Report::Failed(GenerationFailed {
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

/// A model's manifest, file path (for messages) and bytes, as read through `models://`.
struct ModelFiles {
    manifest: ModelManifest,
    onnx_path: PathBuf,
    onnx: Vec<u8>,
    /// A sequence model's tokenizer: its path (for messages) and bytes.
    tokenizer: Option<(PathBuf, Vec<u8>)>,
    /// sha256 of the tokenizer bytes (empty for image models), so a new tokenizer regenerates.
    tokenizer_sha256: String,
}

/// The model of one entry, ready for its kind.
enum EntryGenerator {
    Image(ImageGenerator),
    Sequence(Box<SequenceModel>),
}

impl EntryGenerator {
    fn new(
        files: &ModelFiles,
        session: Arc<ModelSession>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match &files.tokenizer {
            None => Self::Image(ImageGenerator::new(&files.manifest, session)?),
            Some((path, bytes)) => Self::Sequence(Box::new(SequenceModel::with_tokenizer(
                &files.manifest,
                bytes,
                path,
                session,
            )?)),
        })
    }

    fn session(&self) -> &ModelSession {
        match self {
            Self::Image(image) => image.session(),
            Self::Sequence(sequence) => sequence.session(),
        }
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
            .map_err(|err| KilnLoadError::Read {
                path: recipe_path.clone(),
                message: err.to_string(),
            })?;
        let text = String::from_utf8(bytes).map_err(|err| KilnLoadError::Read {
            path: recipe_path.clone(),
            message: err.to_string(),
        })?;
        #[cfg_attr(
            feature = "audio",
            expect(unused_mut, reason = "only filtered without audio")
        )]
        let mut recipe = Recipe::from_str(&text, &recipe_path)?;
        #[cfg(not(feature = "audio"))]
        recipe.assets.retain(|name, entry| {
            let music = matches!(entry.kind, AssetKind::Music(_));
            if music {
                warn!(
                    "{}#{name}: music needs bevy_kiln's `audio` feature; skipped",
                    recipe_path.display()
                );
            }
            !music
        });
        let sessions = self.engine.sessions()?;

        // Read every model first: each read registers a dependency, so a broken model still
        // reloads this recipe once it is fixed.
        let mut models = HashMap::new();
        for entry in recipe.assets.values() {
            if !models.contains_key(&entry.model) {
                models.insert(
                    entry.model.clone(),
                    read_model(load_context, &entry.model).await?,
                );
            }
        }

        let mut entries = BTreeMap::new();
        for (name, entry) in recipe.assets {
            let files = &models[&entry.model];
            let session = sessions
                .load_model_bytes(
                    &files.manifest,
                    &files.onnx,
                    &files.onnx_path,
                    HashCheck::Warn,
                )
                .map_err(|source| KilnLoadError::Session {
                    entry: name.clone(),
                    source,
                })?;
            let generator =
                EntryGenerator::new(files, session).map_err(|source| KilnLoadError::Generate {
                    entry: name.clone(),
                    source,
                })?;
            let seeds: Vec<u64> = (0..u64::from(entry.variants.get()))
                .map(|i| {
                    entry
                        .seed
                        .wrapping_add(settings.seed_offset)
                        .wrapping_add(i)
                })
                .collect();
            let key = format!(
                "{}|{}|{:?}|{:?}|{seeds:?}",
                generator.session().sha256(),
                files.tokenizer_sha256,
                sessions.options(),
                entry.kind
            );
            let slot = self.engine.generation_slot(key);
            let started = Instant::now();
            let (made, fresh) =
                generate(slot, generator, name.clone(), entry.clone(), seeds.clone())
                    .await
                    .map_err(|source| KilnLoadError::Generate {
                        entry: name.clone(),
                        source,
                    })?;
            let recipe_entry = made.add_to(load_context, &name, &entry, seeds.clone());
            if !fresh {
                entries.insert(name, recipe_entry);
                continue;
            }
            self.engine.report(Report::Generated(AssetGenerated {
                recipe: load_context.path().to_string(),
                entry: name.clone(),
                model: files.manifest.name.clone(),
                model_sha256: recipe_entry.model_sha256.clone(),
                execution_provider: recipe_entry.execution_provider.clone(),
                seeds,
                elapsed: started.elapsed(),
            }));
            entries.insert(name, recipe_entry);
        }
        Ok(KilnRecipe { entries })
    }
}

async fn read_model(
    load_context: &mut LoadContext<'_>,
    model: &str,
) -> Result<ModelFiles, KilnLoadError> {
    let display = |file: &str| Path::new("models").join(model).join(file);
    let manifest_path = display(MANIFEST_FILE_NAME);
    let manifest_bytes =
        read_model_file(load_context, model, MANIFEST_FILE_NAME, &manifest_path).await?;
    let text = String::from_utf8(manifest_bytes).map_err(|err| KilnLoadError::Read {
        path: manifest_path.clone(),
        message: err.to_string(),
    })?;
    let manifest = ModelManifest::from_str(&text, &manifest_path)?;
    let onnx_path = display(&manifest.onnx);
    let onnx = read_model_file(load_context, model, &manifest.onnx, &onnx_path).await?;
    let tokenizer = match &manifest.kind {
        ModelKind::ImageGenerator(_) => None,
        ModelKind::SequenceGenerator(sequence) => {
            let path = display(&sequence.tokenizer);
            let bytes = read_model_file(load_context, model, &sequence.tokenizer, &path).await?;
            Some((path, bytes))
        }
    };
    let tokenizer_sha256 = tokenizer
        .as_ref()
        .map(|(_, bytes)| kiln_onnx::sha256_hex(bytes))
        .unwrap_or_default();
    Ok(ModelFiles {
        manifest,
        onnx_path,
        onnx,
        tokenizer,
        tokenizer_sha256,
    })
}

async fn read_model_file(
    load_context: &mut LoadContext<'_>,
    model: &str,
    file: &str,
    display: &Path,
) -> Result<Vec<u8>, KilnLoadError> {
    let path = AssetPath::from(format!("{model}/{file}")).with_source(MODELS_SOURCE);
    load_context
        .read_asset_bytes(path)
        .await
        .map_err(|err| KilnLoadError::Read {
            path: display.to_path_buf(),
            message: format!("{err} (is there a model folder {model:?} under models/?)"),
        })
}

/// What one entry generated, before it becomes Bevy assets.
#[derive(Debug)]
enum Made {
    Textures(Vec<kiln_gen::Texture>),
    Sprites(kiln_gen::SpriteSet),
    Strings(BTreeMap<String, Flavour>),
    /// WAV bytes of each variant.
    #[cfg_attr(
        not(feature = "audio"),
        expect(dead_code, reason = "music entries are skipped without audio")
    )]
    Music(Vec<Vec<u8>>),
}

#[derive(Debug)]
struct Generated {
    made: Made,
    model_sha256: String,
    execution_provider: String,
}

/// Runs the model on the async compute pool, so neither a frame nor the IO pool waits on it.
/// Returns the result and whether it was made now (`false`: another load of the same
/// generation made it, or is making it and was waited for).
async fn generate(
    slot: GenerationSlot,
    generator: EntryGenerator,
    name: String,
    entry: AssetEntry,
    seeds: Vec<u64>,
) -> Result<(Arc<Generated>, bool), Box<dyn std::error::Error + Send + Sync>> {
    AsyncComputeTaskPool::get()
        .spawn(async move {
            let mut done = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(generated) = done.as_ref() {
                return Ok((Arc::clone(generated), false));
            }
            let made = match (&entry.kind, &generator) {
                (AssetKind::Texture(params), EntryGenerator::Image(image)) => {
                    Made::Textures(make_textures(image, params, seeds)?)
                }
                (AssetKind::Sprite(params), EntryGenerator::Image(image)) => {
                    Made::Sprites(make_sprites(image, params, seeds)?)
                }
                (AssetKind::Text(params), EntryGenerator::Sequence(model)) => {
                    let mut table = BTreeMap::new();
                    for (variant, seed) in seeds.into_iter().enumerate() {
                        table.insert(
                            format!("{name}/{variant}"),
                            make_flavour(model, params, seed)?,
                        );
                    }
                    Made::Strings(table)
                }
                (AssetKind::Music(params), EntryGenerator::Sequence(model)) => Made::Music(
                    seeds
                        .into_iter()
                        .map(|seed| make_loop(model, params, seed).map(|music| music.wav))
                        .collect::<Result<_, _>>()?,
                ),
                (kind, _) => {
                    return Err(format!(
                        "model {:?} cannot make a {}: choose a model of that kind",
                        entry.model,
                        kind.name()
                    )
                    .into());
                }
            };
            let generated = Arc::new(Generated {
                made,
                model_sha256: generator.session().sha256().to_owned(),
                execution_provider: generator.session().provider().to_string(),
            });
            *done = Some(Arc::clone(&generated));
            Ok((generated, true))
        })
        .await
}

impl Generated {
    fn add_to(
        &self,
        load_context: &mut LoadContext<'_>,
        name: &str,
        entry: &AssetEntry,
        seeds: Vec<u64>,
    ) -> RecipeEntry {
        let mut recipe_entry = RecipeEntry {
            model: entry.model.clone(),
            model_sha256: self.model_sha256.clone(),
            execution_provider: self.execution_provider.clone(),
            seeds,
            ..RecipeEntry::default()
        };
        match &self.made {
            Made::Textures(textures) => {
                for (i, texture) in textures.iter().enumerate() {
                    let image = bevy_image(texture.image.clone().into(), true, repeat_sampler());
                    recipe_entry
                        .images
                        .push(load_context.add_labeled_asset(format!("{name}/{i}"), image));
                    recipe_entry.seam_scores.push(texture.seam_score);
                    if let Some(normal) = &texture.normal_map {
                        let normal = bevy_image(normal.clone().into(), false, repeat_sampler());
                        recipe_entry.normal_maps.push(
                            load_context.add_labeled_asset(format!("{name}/{i}/normal"), normal),
                        );
                    }
                }
            }
            Made::Sprites(set) => {
                for (i, (_, sprite)) in set.sprites.iter().enumerate() {
                    let image = bevy_image(sprite.clone().into(), true, ImageSampler::nearest());
                    recipe_entry
                        .images
                        .push(load_context.add_labeled_asset(format!("{name}/{i}"), image));
                }
                let sheet = bevy_image(set.sheet.clone().into(), true, ImageSampler::nearest());
                recipe_entry.sheet =
                    Some(load_context.add_labeled_asset(format!("{name}/sheet"), sheet));
                recipe_entry.atlas = Some(
                    load_context
                        .add_labeled_asset(format!("{name}/atlas"), atlas_layout(&set.layout)),
                );
            }
            Made::Strings(table) => {
                let strings = KilnStrings {
                    entries: table.clone(),
                };
                recipe_entry.strings =
                    Some(load_context.add_labeled_asset(format!("{name}/strings"), strings));
            }
            #[cfg(feature = "audio")]
            Made::Music(loops) => {
                for (i, wav) in loops.iter().enumerate() {
                    let source = bevy::audio::AudioSource {
                        bytes: wav.as_slice().into(),
                    };
                    recipe_entry
                        .audio
                        .push(load_context.add_labeled_asset(format!("{name}/{i}"), source));
                }
            }
            #[cfg(not(feature = "audio"))]
            Made::Music(_) => {}
        }
        recipe_entry
    }
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
