//! A small scene built from generated content: a floor and walls from `kiln_textures`,
//! wandering characters from `kiln_sprites`' sheet and atlas. Press R to regenerate everything
//! with new seeds (off the main thread: the game keeps running while the models work).
//!
//!     cargo run -p bevy_kiln --example dungeon
//!
//! Edit `assets/dungeon.kiln.ron` or replace a `models/*/model.onnx` while it runs: the scene
//! updates without a restart.

use bevy::asset::AssetPath;
use bevy::prelude::*;
use bevy::sprite::SpriteImageMode;
use bevy_kiln::{
    AssetGenerated, GenerationFailed, KilnLoadSettings, KilnModelSourcePlugin, KilnPlugins,
};

const ROOM: Vec2 = Vec2::new(960.0, 576.0);
const WALL: f32 = 64.0;

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
        .add_systems(Update, (regenerate_on_r, wander, show_status))
        .run();
}

/// Seed offset of the content on screen; R increments it.
#[derive(Resource)]
struct Generation(u64);

#[derive(Component)]
struct Floor;

#[derive(Component)]
struct Wall;

#[derive(Component)]
struct Walker {
    velocity: Vec2,
    index: usize,
}

#[derive(Component)]
struct Status;

fn load<A: Asset>(server: &AssetServer, path: &str, generation: u64) -> Handle<A> {
    server.load_with_settings(
        AssetPath::from(path.to_owned()),
        move |settings: &mut KilnLoadSettings| {
            settings.seed_offset = generation * 1000;
        },
    )
}

fn setup(mut commands: Commands, server: Res<AssetServer>) {
    commands.spawn(Camera2d);
    let tiled = SpriteImageMode::Tiled {
        tile_x: true,
        tile_y: true,
        stretch_value: 1.0,
    };
    commands.spawn((
        Floor,
        Sprite {
            image: load(&server, "dungeon.kiln.ron#floor/0", 0),
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
            Wall,
            Sprite {
                image: load(&server, "dungeon.kiln.ron#wall/0", 0),
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
        Text::new("generating…"),
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
    mut floors: Query<&mut Sprite, (With<Floor>, Without<Wall>, Without<Walker>)>,
    mut walls: Query<&mut Sprite, (With<Wall>, Without<Floor>, Without<Walker>)>,
    mut walkers: Query<(&mut Sprite, &Walker), (Without<Floor>, Without<Wall>)>,
) {
    if !keys.just_pressed(KeyCode::KeyR) {
        return;
    }
    generation.0 += 1;
    let g = generation.0;
    for mut sprite in &mut floors {
        sprite.image = load(&server, "dungeon.kiln.ron#floor/0", g);
    }
    for mut sprite in &mut walls {
        sprite.image = load(&server, "dungeon.kiln.ron#wall/0", g);
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
            "generation {} — {}#{} by {} on {} in {:.0?} (R: regenerate)",
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
