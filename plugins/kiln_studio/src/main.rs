//! Kiln studio: the editor panel in a window of its own, for designers working outside a game.
//! The preview scene shows the last generation at game scale: textures tiled across the
//! window, sprites upscaled in a row, text as a page; music plays from the panel.
//!
//!     kiln studio                          # or: cargo run --release -p kiln_studio
//!     kiln studio --assets game/assets --models game/models --out game/baked

use std::path::{Path, PathBuf};

use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::sprite::SpriteImageMode;
use bevy_kiln::{KilnModelSourcePlugin, KilnPlugins};
use bevy_kiln_editor::{Content, KilnEditor, KilnEditorPlugin};
use clap::Parser;

/// Kiln studio: generate, browse, pin and bake recipe entries.
#[derive(Debug, Parser)]
#[command(name = "kiln-studio", version)]
struct Args {
    /// Folder searched for `*.kiln.ron` recipes.
    #[arg(long, default_value = "assets")]
    assets: PathBuf,
    /// Folder of model folders.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Where the panel's Bake button writes.
    #[arg(long, default_value = "baked")]
    out: PathBuf,
}

fn main() -> AppExit {
    // SAFETY: first thing in `main`: no other thread has started.
    unsafe { bevy_kiln::disable_telemetry() };
    let args = Args::parse();
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (assets, models, out) = (
        absolute(&args.assets),
        absolute(&args.models),
        absolute(&args.out),
    );
    if !assets.is_dir() {
        eprintln!(
            "error: {}: no such folder; pass the folder of your recipes with --assets <dir>",
            assets.display()
        );
        return AppExit::error();
    }
    App::new()
        .add_plugins((
            KilnPlugins {
                models: KilnModelSourcePlugin {
                    path: models.to_string_lossy().into_owned(),
                },
                ..default()
            },
            DefaultPlugins
                .set(AssetPlugin {
                    file_path: assets.to_string_lossy().into_owned(),
                    ..default()
                })
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title: "Kiln studio".into(),
                        resolution: (1280, 800).into(),
                        ..default()
                    }),
                    ..default()
                }),
        ))
        .add_plugins(KilnEditorPlugin {
            open: true,
            assets_dir: assets,
            models_dir: models,
            bake_dir: out,
            ..default()
        })
        .insert_resource(ClearColor(Color::srgb(0.09, 0.08, 0.1)))
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn(Camera2d);
        })
        .add_systems(Update, show_last_generation)
        .run()
}

/// Marks what the preview scene spawned for the current gallery.
#[derive(Component)]
struct Preview;

/// Rebuilds the preview scene whenever the panel has a new gallery.
fn show_last_generation(
    editor: Res<KilnEditor>,
    mut shown: Local<u64>,
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    old: Query<Entity, With<Preview>>,
    window: Single<&Window>,
) {
    let workbench = editor.workbench();
    if workbench.gallery_generation() == *shown {
        return;
    }
    *shown = workbench.gallery_generation();
    old.iter()
        .for_each(|entity| commands.entity(entity).despawn());
    let Some(gallery) = workbench.gallery() else {
        return;
    };
    let area = window.size();
    let count = gallery.variants.len() as f32;
    for (index, variant) in gallery.variants.iter().enumerate() {
        match &variant.content {
            Content::Image { size, rgba, sprite } => {
                let Some(image) = bevy_image(*size, rgba, *sprite) else {
                    continue;
                };
                let handle = images.add(image);
                if *sprite {
                    // A row of sprites at 4× with nearest sampling, right of the panel.
                    let step = (area.x * 0.6 / count).min(size[0] as f32 * 5.0);
                    let x = area.x * 0.15 + (index as f32 - (count - 1.0) / 2.0) * step;
                    commands.spawn((
                        Preview,
                        Sprite::from_image(handle),
                        Transform::from_xyz(x, 0.0, 1.0).with_scale(Vec3::splat(4.0)),
                    ));
                } else if index == 0 {
                    // The first texture across the whole window, at 1:1, as a floor would be.
                    commands.spawn((
                        Preview,
                        Sprite {
                            image: handle,
                            custom_size: Some(area),
                            image_mode: SpriteImageMode::Tiled {
                                tile_x: true,
                                tile_y: true,
                                stretch_value: 1.0,
                            },
                            ..default()
                        },
                    ));
                }
            }
            Content::Text(flavour) => {
                let y = area.y * 0.3 - index as f32 * 120.0;
                commands.spawn((
                    Preview,
                    Text2d::new(format!("{}\n{}", flavour.name, flavour.text)),
                    TextFont::from_font_size(16.0),
                    bevy::text::TextBounds::new_horizontal(area.x * 0.45),
                    Transform::from_xyz(area.x * 0.15, y, 1.0),
                ));
            }
            Content::Loop { .. } => {}
        }
    }
}

fn bevy_image(size: [usize; 2], rgba: &[u8], sprite: bool) -> Option<Image> {
    let buffer = image::RgbaImage::from_raw(size[0] as u32, size[1] as u32, rgba.to_vec())?;
    let mut image = Image::from_dynamic(buffer.into(), true, RenderAssetUsages::default());
    image.sampler = if sprite {
        ImageSampler::nearest()
    } else {
        ImageSampler::linear()
    };
    Some(image)
}
