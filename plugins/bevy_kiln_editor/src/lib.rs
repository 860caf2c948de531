//! Kiln's in-game editor for level designers: a bevy_egui panel listing the recipes under
//! the assets folder, with a widget for every parameter of the selected entry, background
//! generation into a gallery (textures tiled 2×2, sprites upscaled, text, loops with play and
//! waveform), **Pin** (the chosen variant's seed and parameters are written back into the
//! recipe, which hot reload picks up) and **Bake** (the same engine and manifest as
//! `kiln bake`).
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_kiln::KilnPlugins;
//! use bevy_kiln_editor::KilnEditorPlugin;
//!
//! App::new()
//!     .add_plugins((KilnPlugins::default(), DefaultPlugins))
//!     .add_plugins(KilnEditorPlugin::default()) // F2 shows the panel
//!     .run();
//! ```
//!
//! The [`Workbench`] is the editor without its UI, for tools and tests.

mod catalog;
mod gallery;
mod panel;
mod params;
mod plugin;
mod workbench;

pub use catalog::{Catalog, ModelChoices, RecipeFile};
pub use gallery::{Content, Gallery, Variant, WAVEFORM_COLUMNS};
pub use plugin::{KilnEditor, KilnEditorPlugin, KilnEditorSystems};
pub use workbench::{
    BakeSummary, EditorError, EditorPaths, Notice, Progress, Selection, Workbench,
};
