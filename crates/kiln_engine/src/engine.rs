//! Sessions and models: an [`Engine`] per set of session options, a [`Model`] per model.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use image::RgbaImage;
use kiln_gen::{ArtPalettes, ImageGenerator, finish_sprites, make_sprites, make_textures};
use kiln_onnx::{HashCheck, ModelSession, SessionCache, SessionOptions};
use kiln_recipe::{AssetEntry, AssetKind, ModelKind, ModelManifest};
use kiln_seq::{Flavour, PixelArt, SequenceModel, complete_each, draw_pixel_art, make_flavour};

use crate::{Content, EngineError, Made, ModelFiles};

/// ONNX Runtime sessions under one set of [`SessionOptions`]; [`Engine::load`] makes a
/// [`Model`] from a model's files (the same ONNX bytes are loaded into a session once).
#[derive(Debug)]
pub struct Engine {
    sessions: SessionCache,
}

impl Engine {
    /// An engine whose sessions follow `options`; loads ONNX Runtime if needed.
    pub fn new(options: SessionOptions) -> Result<Self, EngineError> {
        Ok(Self {
            sessions: SessionCache::new(options)?,
        })
    }

    /// The session cache (runtime, options, expected provider).
    pub fn sessions(&self) -> &SessionCache {
        &self.sessions
    }

    /// Loads `files` into a session (the same ONNX bytes load once) and checks the model
    /// against its manifest; `check` decides what a sha256 that differs from the manifest does.
    pub fn load(&self, files: &ModelFiles, check: HashCheck) -> Result<Model, EngineError> {
        let session = self.sessions.load_model_hashed(
            files.manifest(),
            files.onnx(),
            files.onnx_sha256().to_owned(),
            &files.onnx_path(),
            check,
        )?;
        let sequence = match files.tokenizer() {
            None => None,
            Some((path, bytes)) => {
                let model = SequenceModel::with_tokenizer(
                    files.manifest(),
                    bytes,
                    &path,
                    Arc::clone(&session),
                )?;
                Some(Arc::new(match files.lexicon() {
                    None => model,
                    Some((path, bytes)) => {
                        let (spans, names) = (files.corpus_spans(), files.corpus_names());
                        let words = model.load_real_words(
                            (&path, bytes),
                            spans.as_ref().map(|(path, bytes)| (path.as_path(), *bytes)),
                            names.as_ref().map(|(path, bytes)| (path.as_path(), *bytes)),
                        )?;
                        model.with_real_words(Arc::new(words))
                    }
                }))
            }
        };
        let palettes = match (files.palettes(), &files.manifest().kind) {
            (Some((path, bytes)), ModelKind::ImageGenerator(image)) => Some(Arc::new(
                ArtPalettes::from_png(bytes, &image.classes)
                    .map_err(|message| EngineError::Palettes { path, message })?,
            )),
            _ => None,
        };
        let model = Model {
            manifest: Arc::new(files.manifest().clone()),
            sequence,
            palettes,
            content_sha256: files.content_sha256().to_owned(),
            session,
            options: self.sessions.options(),
        };
        // Check now what `make` needs, so a model that cannot generate fails on load.
        model.generator()?;
        Ok(model)
    }
}

/// One [`Engine`] per set of session options, made when first asked for and then shared:
/// what the plugin and the editor hold, since their settings can change while they run.
#[derive(Debug, Default)]
pub struct Engines {
    by_options: Mutex<HashMap<SessionOptions, Arc<Engine>>>,
}

impl Engines {
    /// The engine for `options`.
    pub fn get(&self, options: SessionOptions) -> Result<Arc<Engine>, EngineError> {
        let mut engines = self.by_options.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(engine) = engines.get(&options) {
            return Ok(Arc::clone(engine));
        }
        let engine = Arc::new(Engine::new(options)?);
        engines.insert(options, Arc::clone(&engine));
        Ok(engine)
    }
}

/// A model loaded into a session, ready to generate the kinds of content it can make.
#[derive(Clone, Debug)]
pub struct Model {
    manifest: Arc<ModelManifest>,
    /// A sequence model, its tokenizer and word checks parsed once; each `make` runs a
    /// [`SequenceModel::handle`] on it.
    sequence: Option<Arc<SequenceModel>>,
    /// An image model's art palettes, parsed once.
    palettes: Option<Arc<ArtPalettes>>,
    content_sha256: String,
    session: Arc<ModelSession>,
    options: SessionOptions,
}

/// The model of one generation, ready for its kind.
enum Generator {
    Image(Box<ImageGenerator>),
    Sequence(Box<SequenceModel>),
}

impl Model {
    /// The manifest.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The session (sha256 of the bytes that run, provider).
    pub fn session(&self) -> &ModelSession {
        &self.session
    }

    /// See [`ModelFiles::content_sha256`].
    pub fn content_sha256(&self) -> &str {
        &self.content_sha256
    }

    /// A key for what [`Model::make`] returns for `entry` and `seeds`: equal keys, equal
    /// results (model content, session options, kind and parameters, seeds).
    pub fn generation_key(&self, entry: &AssetEntry, seeds: &[u64]) -> String {
        let inputs = serde_json::json!({
            "model": self.content_sha256(),
            "provider": self.session.provider().to_string(),
            "options": format!("{:?}", self.options),
            "kind": entry.kind,
            "seeds": seeds,
        });
        kiln_onnx::sha256_hex(inputs.to_string().as_bytes())
    }

    fn generator(&self) -> Result<Generator, EngineError> {
        let session = Arc::clone(&self.session);
        Ok(match &self.sequence {
            None => {
                let image = ImageGenerator::new(self.manifest(), session)?;
                Generator::Image(Box::new(match &self.palettes {
                    Some(palettes) => image.with_palettes(Arc::clone(palettes)),
                    None => image,
                }))
            }
            Some(sequence) => Generator::Sequence(Box::new(sequence.handle())),
        })
    }

    /// Generates `entry` (called `name` in its recipe) once per seed (see [`crate::seeds`]);
    /// `on_variant(i)` is called as variant `i` starts.
    pub fn make(
        &self,
        name: &str,
        entry: &AssetEntry,
        seeds: &[u64],
        on_variant: &(dyn Fn(u32) + Sync),
    ) -> Result<Made, EngineError> {
        let generator = self.generator()?;
        let wrong_model = |kind: &AssetKind| EngineError::WrongModel {
            model: entry.model.clone(),
            kind: kind.name(),
        };
        let started = seeds.iter().enumerate().map(|(variant, seed)| {
            on_variant(variant as u32);
            *seed
        });
        let content = match (&entry.kind, &generator) {
            (AssetKind::Texture(params), Generator::Image(image)) => {
                Content::Textures(make_textures(image, params, started)?)
            }
            (AssetKind::Sprite(params), Generator::Image(image)) => {
                Content::Sprites(make_sprites(image, params, started)?)
            }
            (AssetKind::Sprite(params), Generator::Sequence(model)) if model.draws_pixels() => {
                let seeds: Vec<u64> = started.collect();
                let drawn = draw_pixel_art(model, params.class.as_deref(), &seeds)?;
                Content::Sprites(finish_sprites(
                    seeds
                        .into_iter()
                        .zip(drawn.into_iter().map(art_image))
                        .collect(),
                    params,
                ))
            }
            (kind, Generator::Sequence(model)) if model.draws_pixels() => {
                return Err(wrong_model(kind));
            }
            (AssetKind::Text(params), Generator::Sequence(model)) => Content::Strings(
                started
                    .map(|seed| make_flavour(model, params, seed))
                    .collect::<Result<_, _>>()?,
            ),
            (AssetKind::Completion(params), Generator::Sequence(model)) => {
                let seeds: Vec<u64> = started.collect();
                let completions = complete_each(model, params, &seeds)?;
                Content::Strings(
                    completions
                        .into_iter()
                        .map(|completion| Flavour {
                            name: String::new(),
                            text: completion.text,
                        })
                        .collect(),
                )
            }
            (AssetKind::Music(params), Generator::Sequence(model)) => {
                Content::Loops(kiln_music::make_loops(model, params, started)?)
            }
            (kind, _) => return Err(wrong_model(kind)),
        };
        Ok(Made {
            entry: name.to_owned(),
            model: self.manifest().name.clone(),
            model_sha256: self.session.sha256().to_owned(),
            licence: self.manifest().licence.clone(),
            attribution: self.manifest().attribution.clone(),
            execution_provider: self.session.provider(),
            inference: match &generator {
                Generator::Image(image) => image.run_time(),
                Generator::Sequence(sequence) => sequence.run_time(),
            },
            seeds: seeds.to_vec(),
            content,
        })
    }
}

/// A drawn sprite as an image.
fn art_image(art: PixelArt) -> RgbaImage {
    RgbaImage::from_raw(art.width, art.height, art.rgba)
        .unwrap_or_else(|| unreachable!("pixel art holds width × height RGBA pixels"))
}
