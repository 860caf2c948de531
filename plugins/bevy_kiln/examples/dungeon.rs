//! A small scene built from generated content: a floor and walls from `kiln_textures`,
//! wandering characters from `kiln_sprites`' sheet and atlas. Press R to regenerate everything
//! with new seeds (off the main thread: the game keeps running while the models work).
//!
//!     cargo run -p bevy_kiln --example dungeon
//!
//! Edit `assets/dungeon.kiln.ron` or replace a `models/*/model.onnx` while it runs: the scene
//! updates without a restart. With `KILN_EXAMPLE_SCREENSHOT=<file.png>` it saves a screenshot
//! once everything has been generated and exits (used to check the example under Xvfb).

use bevy::asset::AssetPath;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::sprite::SpriteImageMode;
use bevy_kiln::{
    AssetGenerated, GenerationFailed, KilnLoadSettings, KilnModelSourcePlugin, KilnPlugins,
};

const ROOM: Vec2 = Vec2::new(960.0, 576.0);
const WALL: f32 = 64.0;
const FLOOR: &str = "dungeon.kiln.ron#floor/0";
const WALL_TEXTURE: &str = "dungeon.kiln.ron#wall/0";

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    App::new()
        .add_plugins((
            KilnPlugins {
                models: KilnModelSourcePlugin {
                    path: format!("{root}/models"),
                },
                ..default()
            },
            DefaultPlugins
                .set(AssetPlugin {
                    file_path: format!("{root}/assets"),
                    ..default()
                })
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title: "Kiln dungeon".into(),
                        resolution: (1024, 640).into(),
                        ..default()
                    }),
                    ..default()
                }),
        ))
        .insert_resource(Generation(0))
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (regenerate_on_r, wander, show_status, screenshot_when_ready),
        )
        .run();
}

/// Seed offset of the content on screen; R increments it.
#[derive(Resource)]
struct Generation(u64);

/// A tiled surface showing one generated texture, reloaded with new seeds on R.
#[derive(Component)]
struct Surface(&'static str);

#[derive(Component)]
struct Walker {
    velocity: Vec2,
    index: usize,
}

#[derive(Component)]
struct Status;

fn load<A: Asset>(server: &AssetServer, path: &str, generation: u64) -> Handle<A> {
    server
        .load_builder()
        .with_settings(move |settings: &mut KilnLoadSettings| {
            settings.seed_offset = generation * 1000;
        })
        .load(AssetPath::from(path.to_owned()))
}

fn setup(mut commands: Commands, server: Res<AssetServer>) {
    commands.spawn(Camera2d);
    let tiled = SpriteImageMode::Tiled {
        tile_x: true,
        tile_y: true,
        stretch_value: 1.0,
    };
    commands.spawn((
        Surface(FLOOR),
        Sprite {
            image: load(&server, FLOOR, 0),
            custom_size: Some(ROOM),
            image_mode: tiled.clone(),
            ..default()
        },
    ));
    for (size, at) in [
        (
            Vec2::new(ROOM.x + 2.0 * WALL, WALL),
            Vec2::new(0.0, (ROOM.y + WALL) / 2.0),
        ),
        (
            Vec2::new(ROOM.x + 2.0 * WALL, WALL),
            Vec2::new(0.0, -(ROOM.y + WALL) / 2.0),
        ),
        (
            Vec2::new(WALL, ROOM.y),
            Vec2::new((ROOM.x + WALL) / 2.0, 0.0),
        ),
        (
            Vec2::new(WALL, ROOM.y),
            Vec2::new(-(ROOM.x + WALL) / 2.0, 0.0),
        ),
    ] {
        commands.spawn((
            Surface(WALL_TEXTURE),
            Sprite {
                image: load(&server, WALL_TEXTURE, 0),
                custom_size: Some(size),
                image_mode: tiled.clone(),
                ..default()
            },
            Transform::from_translation(at.extend(1.0)),
        ));
    }
    let sheet: Handle<Image> = load(&server, "characters.kiln.ron#villagers/sheet", 0);
    let atlas: Handle<TextureAtlasLayout> = load(&server, "characters.kiln.ron#villagers/atlas", 0);
    for index in 0..12 {
        let angle = index as f32 * 2.4;
        commands.spawn((
            Walker {
                velocity: Vec2::from_angle(angle) * 60.0,
                index,
            },
            Sprite::from_atlas_image(
                sheet.clone(),
                TextureAtlas {
                    layout: atlas.clone(),
                    index,
                },
            ),
            Transform::from_xyz(
                (index as f32 * 83.0) % 700.0 - 350.0,
                (index as f32 * 47.0) % 400.0 - 200.0,
                2.0,
            )
            .with_scale(Vec3::splat(1.5)),
        ));
    }
    commands.spawn((
        Status,
        Text::new("generating..."),
        Node {
            position_type: PositionType::Absolute,
            left: Val::Px(8.0),
            top: Val::Px(8.0),
            ..default()
        },
    ));
}

fn regenerate_on_r(
    keys: Res<ButtonInput<KeyCode>>,
    server: Res<AssetServer>,
    mut generation: ResMut<Generation>,
    mut surfaces: Query<(&mut Sprite, &Surface), Without<Walker>>,
    mut walkers: Query<(&mut Sprite, &Walker), Without<Surface>>,
) {
    if !keys.just_pressed(KeyCode::KeyR) {
        return;
    }
    generation.0 += 1;
    let g = generation.0;
    for (mut sprite, surface) in &mut surfaces {
        sprite.image = load(&server, surface.0, g);
    }
    let sheet: Handle<Image> = load(&server, "characters.kiln.ron#villagers/sheet", g);
    let atlas: Handle<TextureAtlasLayout> = load(&server, "characters.kiln.ron#villagers/atlas", g);
    for (mut sprite, walker) in &mut walkers {
        *sprite = Sprite::from_atlas_image(
            sheet.clone(),
            TextureAtlas {
                layout: atlas.clone(),
                index: walker.index,
            },
        );
    }
}

fn wander(time: Res<Time>, mut walkers: Query<(&mut Transform, &mut Walker)>) {
    let bounds = ROOM / 2.0 - Vec2::splat(32.0);
    for (mut transform, mut walker) in &mut walkers {
        let mut at = transform.translation.truncate() + walker.velocity * time.delta_secs();
        if at.x.abs() > bounds.x {
            walker.velocity.x = -walker.velocity.x;
            at.x = at.x.clamp(-bounds.x, bounds.x);
        }
        if at.y.abs() > bounds.y {
            walker.velocity.y = -walker.velocity.y;
            at.y = at.y.clamp(-bounds.y, bounds.y);
        }
        transform.translation = at.extend(transform.translation.z);
    }
}

fn show_status(
    generation: Res<Generation>,
    mut generated: MessageReader<AssetGenerated>,
    mut failed: MessageReader<GenerationFailed>,
    mut status: Query<&mut Text, With<Status>>,
) {
    let Ok(mut text) = status.single_mut() else {
        return;
    };
    for message in generated.read() {
        text.0 = format!(
            "generation {} - {}#{} by {} on {} in {:.0?} (R: regenerate)",
            generation.0,
            message.recipe,
            message.entry,
            message.model,
            message.execution_provider,
            message.elapsed
        );
    }
    for message in failed.read() {
        text.0 = format!("{}: {}", message.recipe, message.error);
    }
}

/// With `KILN_EXAMPLE_SCREENSHOT` set: once the floor, wall and sprite sheet have been generated,
/// waits a few frames for them to reach the GPU, saves a screenshot and exits.
fn screenshot_when_ready(
    mut commands: Commands,
    mut generated: MessageReader<AssetGenerated>,
    mut seen: Local<Vec<String>>,
    mut frames_since_ready: Local<u32>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(path) = std::env::var_os("KILN_EXAMPLE_SCREENSHOT") else {
        return;
    };
    seen.extend(generated.read().map(|m| m.entry.clone()));
    let ready = ["floor", "wall", "villagers"]
        .iter()
        .all(|entry| seen.iter().any(|s| s == entry));
    if !ready {
        return;
    }
    *frames_since_ready += 1;
    match *frames_since_ready {
        30 => {
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path));
        }
        90 => {
            exit.write(AppExit::Success);
        }
        _ => {}
    }
}
