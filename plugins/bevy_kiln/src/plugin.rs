//! Plugins, settings, the recipe asset and system sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use bevy::app::PluginGroupBuilder;
use bevy::asset::AssetApp;
use bevy::asset::io::AssetSourceBuilder;
use bevy::image::{Image, TextureAtlasLayout};
use bevy::prelude::*;
use kiln_engine::Credits;
use kiln_onnx::{ProviderPolicy, SessionOptions};
use kiln_seq::Flavour;

use crate::loader::{KilnRecipeLoader, LoaderState};
use crate::messages::{AssetGenerated, GenerationFailed, forward_reports, report_channel};

/// Name of the asset source over the models folder: `models://<name>/model.onnx`.
pub const MODELS_SOURCE: &str = "models";

/// Everything a game needs: the `models://` asset source and recipe assets.
///
/// Add it **before** `DefaultPlugins` (or `AssetPlugin`): asset sources must exist when the
/// asset server is built. Works headless with `MinimalPlugins` + `AssetPlugin` too.
#[derive(Clone, Debug, Default)]
pub struct KilnPlugins {
    /// Options of the models source.
    pub models: KilnModelSourcePlugin,
    /// Runtime settings to start with.
    pub settings: KilnSettings,
}

impl KilnPlugins {
    /// Kiln with models from `path` (relative to the working directory, or absolute) and
    /// default settings.
    pub fn with_models(path: impl Into<String>) -> Self {
        Self {
            models: KilnModelSourcePlugin { path: path.into() },
            ..Self::default()
        }
    }
}

impl PluginGroup for KilnPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(self.models)
            .add(KilnAssetPlugin {
                settings: self.settings,
            })
    }
}

/// Registers the `models://` asset source over a folder (default: `models`, beside `assets`).
#[derive(Clone, Debug)]
pub struct KilnModelSourcePlugin {
    /// Folder of model folders, relative to the app's root like `AssetPlugin::file_path`.
    pub path: String,
}

impl Default for KilnModelSourcePlugin {
    fn default() -> Self {
        Self {
            path: "models".to_owned(),
        }
    }
}

impl Plugin for KilnModelSourcePlugin {
    fn build(&self, app: &mut App) {
        assert!(
            !app.world().contains_resource::<AssetServer>(),
            "KilnPlugins must be added before DefaultPlugins/AssetPlugin: \
             `app.add_plugins((KilnPlugins::default(), DefaultPlugins))`"
        );
        app.register_asset_source(
            MODELS_SOURCE,
            AssetSourceBuilder::platform_default(&self.path, None),
        );
    }
}

/// Recipe assets, their loader, settings and messages.
#[derive(Clone, Debug, Default)]
pub struct KilnAssetPlugin {
    /// Runtime settings to start with (inserted as the [`KilnSettings`] resource).
    pub settings: KilnSettings,
}

impl Plugin for KilnAssetPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(self.settings.clone())
            .init_resource::<KilnCredits>()
            .add_message::<AssetGenerated>()
            .add_message::<GenerationFailed>()
            .configure_sets(PreUpdate, KilnSystems::Report)
            .add_systems(
                PreUpdate,
                (
                    sync_settings.run_if(resource_changed::<KilnSettings>),
                    forward_reports,
                    update_credits,
                )
                    .chain()
                    .in_set(KilnSystems::Report),
            );
    }

    // After every plugin is built: the asset server exists even though KilnPlugins came first.
    fn finish(&self, app: &mut App) {
        if !app.world().contains_resource::<Assets<Image>>() {
            app.init_asset::<Image>();
        }
        if !app
            .world()
            .contains_resource::<Assets<TextureAtlasLayout>>()
        {
            app.init_asset::<TextureAtlasLayout>();
        }
        #[cfg(feature = "audio")]
        if !app
            .world()
            .contains_resource::<Assets<bevy::audio::AudioSource>>()
        {
            app.init_asset::<bevy::audio::AudioSource>();
        }
        let (sender, receiver) = report_channel();
        let state = Arc::new(LoaderState::new(
            app.world().resource::<KilnSettings>().clone(),
            sender,
        ));
        app.insert_resource(receiver)
            .insert_resource(KilnLoaderState(Arc::clone(&state)))
            .init_asset::<KilnRecipe>()
            .init_asset::<KilnStrings>()
            .register_asset_loader(KilnRecipeLoader { state });
    }
}

/// Runtime settings, read when a recipe is (re)generated. Changing them affects the next generation.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct KilnSettings {
    /// Execution-provider policy (`Auto`: CUDA when it loads, else CPU with a warning).
    pub provider: ProviderPolicy,
    /// Threads ONNX Runtime may use per operator (`None`: all cores).
    pub intra_threads: Option<usize>,
}

impl KilnSettings {
    /// The ONNX Runtime session options these settings mean.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            policy: self.provider,
            intra_threads: self.intra_threads,
            sessions_per_model: 1,
        }
    }
}

/// System sets of Kiln's own systems.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KilnSystems {
    /// Turns loader reports into [`AssetGenerated`] / [`GenerationFailed`] messages (`PreUpdate`).
    Report,
}

#[derive(Resource)]
struct KilnLoaderState(Arc<LoaderState>);

fn sync_settings(settings: Res<KilnSettings>, state: Res<KilnLoaderState>) {
    *state.0.settings.write().unwrap_or_else(|p| p.into_inner()) = settings.clone();
}

/// What the game owes for the generated content it has loaded, for a credits screen: each
/// model's licence and the attribution that licence requires, with the entries
/// (`<recipe path>#<entry>`) it made. Kept up to date as recipes load, reload and unload; the
/// same list `kiln bake` writes to `CREDITS.md`.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct KilnCredits(pub Credits);

fn update_credits(
    mut events: MessageReader<AssetEvent<KilnRecipe>>,
    recipes: Res<Assets<KilnRecipe>>,
    server: Res<AssetServer>,
    mut credits: ResMut<KilnCredits>,
) {
    if events.read().count() == 0 {
        return;
    }
    let mut all = Credits::default();
    for (id, recipe) in recipes.iter() {
        let path = server
            .get_path(id)
            .map_or_else(|| id.to_string(), |path| path.to_string());
        for (name, entry) in &recipe.entries {
            all.add(
                &entry.model,
                &entry.licence,
                entry.attribution.as_deref(),
                &format!("{path}#{name}"),
            );
        }
    }
    credits.set_if_neq(KilnCredits(all));
}

/// A loaded recipe: every entry's generated assets and how they were made.
#[derive(Asset, TypePath, Debug, Default)]
pub struct KilnRecipe {
    /// Entries by name.
    pub entries: BTreeMap<String, GeneratedEntry>,
}

/// The string table of a text entry (`<entry>/strings`): `"<entry>/<variant>"` → name and text,
/// the same keys as the `strings.ron` that `kiln bake` writes.
#[derive(Asset, TypePath, Debug, Default, Clone, PartialEq, Eq)]
pub struct KilnStrings {
    /// Name and text by key.
    pub entries: BTreeMap<String, Flavour>,
}

impl KilnStrings {
    /// The text with key `"<entry>/<variant>"`.
    pub fn get(&self, key: &str) -> Option<&Flavour> {
        self.entries.get(key)
    }
}

/// The assets generated from one recipe entry, with how they were made.
#[derive(Debug, Default, Clone)]
pub struct GeneratedEntry {
    /// Variant images (`<entry>/<i>`).
    pub images: Vec<Handle<Image>>,
    /// Normal maps of texture variants (`<entry>/<i>/normal`), when the recipe asks for them.
    pub normal_maps: Vec<Handle<Image>>,
    /// Seam score of each texture variant (about 1 is seamless).
    pub seam_scores: Vec<f64>,
    /// Sprite sheet (`<entry>/sheet`).
    pub sheet: Option<Handle<Image>>,
    /// Atlas layout of the sheet (`<entry>/atlas`).
    pub atlas: Option<Handle<TextureAtlasLayout>>,
    /// String table of a text entry (`<entry>/strings`).
    pub strings: Option<Handle<KilnStrings>>,
    /// Music loops (`<entry>/<i>`), WAV with loop points; play with `PlaybackSettings::LOOP`.
    #[cfg(feature = "audio")]
    pub audio: Vec<Handle<bevy::audio::AudioSource>>,
    /// Seed of each variant.
    pub seeds: Vec<u64>,
    /// Model name.
    pub model: String,
    /// sha256 of the model bytes that ran.
    pub model_sha256: String,
    /// The model's licence (SPDX).
    pub licence: String,
    /// The credit the model's licence requires whoever ships this content to give.
    pub attribution: Option<String>,
    /// Execution provider that ran.
    pub execution_provider: String,
}
