//! The plugin, its resource and systems.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bevy::asset::io::file::FileAssetReader;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use bevy_kiln::KilnSettings;

use crate::panel::{self, Action, PanelState};
use crate::workbench::{EditorPaths, Workbench};

/// The designer panel: add it (in development builds) next to `KilnPlugins` and
/// `DefaultPlugins`; press [`KilnEditorPlugin::toggle_key`] in the running game.
///
/// Relative folders are resolved like Bevy's asset folder (from `BEVY_ASSET_ROOT`, the
/// crate's manifest folder under `cargo run`, or the executable's folder).
#[derive(Clone, Debug)]
pub struct KilnEditorPlugin {
    /// Key that shows and hides the panel.
    pub toggle_key: KeyCode,
    /// Show the panel from the start.
    pub open: bool,
    /// Folder searched for recipes: the game's assets folder.
    pub assets_dir: PathBuf,
    /// Folder of model folders.
    pub models_dir: PathBuf,
    /// Where the panel's Bake button writes.
    pub bake_dir: PathBuf,
}

impl Default for KilnEditorPlugin {
    fn default() -> Self {
        Self {
            toggle_key: KeyCode::F2,
            open: false,
            assets_dir: "assets".into(),
            models_dir: "models".into(),
            bake_dir: "baked".into(),
        }
    }
}

/// System sets of the editor.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KilnEditorSystems {
    /// Toggle key, finished background work, rescans (`Update`).
    Poll,
    /// Drawing the panel (`EguiPrimaryContextPass`).
    Ui,
}

/// The editor's state: whether the panel shows, and its [`Workbench`].
#[derive(Resource)]
pub struct KilnEditor {
    /// The panel is shown.
    pub open: bool,
    toggle_key: KeyCode,
    workbench: Workbench,
    panel: PanelState,
    last_scan: Instant,
}

/// How often an open panel reads recipes and models again, to follow edits made elsewhere.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

impl KilnEditor {
    /// The editor's state and actions.
    pub fn workbench(&self) -> &Workbench {
        &self.workbench
    }

    /// The editor's state and actions, to drive it from code.
    pub fn workbench_mut(&mut self) -> &mut Workbench {
        &mut self.workbench
    }

    /// Where the Generate button was drawn in the last frame, in logical window pixels
    /// (`None` while no entry is selected or the panel is hidden): for UI automation.
    pub fn generate_button(&self) -> Option<egui::Rect> {
        self.panel.generate_button.filter(|_| self.open)
    }
}

impl Plugin for KilnEditorPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        let paths = EditorPaths {
            assets: resolve(&self.assets_dir),
            models: resolve(&self.models_dir),
            bake: resolve(&self.bake_dir),
        };
        app.insert_resource(KilnEditor {
            open: self.open,
            toggle_key: self.toggle_key,
            workbench: Workbench::new(paths),
            panel: PanelState::default(),
            last_scan: Instant::now(),
        })
        .add_systems(
            Update,
            (toggle_panel, poll_workbench).in_set(KilnEditorSystems::Poll),
        )
        .add_systems(
            EguiPrimaryContextPass,
            draw_panel.in_set(KilnEditorSystems::Ui),
        );
    }
}

fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        FileAssetReader::get_base_path().join(path)
    }
}

fn toggle_panel(keys: Res<ButtonInput<KeyCode>>, mut editor: ResMut<KilnEditor>) {
    if keys.just_pressed(editor.toggle_key) {
        editor.open = !editor.open;
    }
}

fn poll_workbench(mut editor: ResMut<KilnEditor>) {
    editor.workbench.poll();
    if editor.open && editor.last_scan.elapsed() >= RESCAN_EVERY && !editor.workbench.is_busy() {
        editor.workbench.rescan();
        editor.last_scan = Instant::now();
    }
}

/// Marks the entity playing a gallery loop.
#[derive(Component)]
struct PreviewAudio;

fn draw_panel(
    mut contexts: EguiContexts,
    mut editor: ResMut<KilnEditor>,
    mut settings: Option<ResMut<KilnSettings>>,
    mut commands: Commands,
    playing: Query<Entity, With<PreviewAudio>>,
    #[cfg(feature = "audio")] mut audio: ResMut<Assets<bevy::audio::AudioSource>>,
) -> Result {
    if !editor.open {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut provider = settings.as_deref().map(|s| s.provider).unwrap_or_default();
    let editor = &mut *editor;
    let actions = panel::draw(ctx, &mut editor.workbench, &mut editor.panel, &mut provider);
    if let Some(settings) = settings.as_deref_mut().filter(|s| s.provider != provider) {
        settings.provider = provider;
    }
    let options = settings
        .as_deref()
        .map(KilnSettings::session_options)
        .unwrap_or_default();
    for action in actions {
        match action {
            Action::Generate => editor.workbench.generate(options),
            Action::Bake => editor.workbench.bake(options),
            Action::Pin(index) => {
                // The outcome (and any error, with the file) shows in the panel's messages.
                let _ = editor.workbench.pin(index);
            }
            Action::Rescan => editor.workbench.rescan(),
            Action::Stop => {
                playing.iter().for_each(|e| commands.entity(e).despawn());
                editor.panel.playing = None;
            }
            // The panel offers Play only with the `audio` feature.
            #[cfg(not(feature = "audio"))]
            Action::Play(_) => {}
            #[cfg(feature = "audio")]
            Action::Play(index) => {
                playing.iter().for_each(|e| commands.entity(e).despawn());
                if let Some(crate::gallery::Content::Loop { wav, .. }) = editor
                    .workbench
                    .gallery()
                    .and_then(|g| g.variants.get(index))
                    .map(|v| &v.content)
                {
                    let source = audio.add(bevy::audio::AudioSource {
                        bytes: wav.as_slice().into(),
                    });
                    commands.spawn((PreviewAudio, AudioPlayer(source), PlaybackSettings::LOOP));
                    editor.panel.playing = Some((index, Instant::now()));
                }
            }
        }
    }
    Ok(())
}
