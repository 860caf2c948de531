//! A small dungeon built from generated content, with Kiln's editor panel:
//!
//!     cargo run -p bevy_kiln_editor --example dungeon
//!
//! F2 shows the panel: pick a recipe entry, change its parameters, Generate, Pin the variant
//! you like (the recipe file changes and the scene follows by hot reload), Bake. Editing
//! `assets/*.kiln.ron` or replacing a `models/*/model.onnx` by hand updates the scene too.
//! R regenerates everything with new seeds.

mod game;

fn main() -> bevy::app::AppExit {
    // SAFETY: first thing in `main`: no other thread has started.
    unsafe { bevy_kiln::disable_telemetry() };
    game::app().run()
}
