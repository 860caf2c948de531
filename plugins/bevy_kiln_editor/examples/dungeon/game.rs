//! The example game: a small scene built from generated content — a floor and walls from
//! `kiln_textures`, wandering villagers from `kiln_portraits`' sheet and atlas, flavour-text
//! tooltips from `kiln_flavour` (hover a character) and a music loop from `kiln_melody` — with
//! Kiln's editor panel (F2). R regenerates everything with new seeds, off the main thread.
//! Shared by `main.rs` and the editor's window test.

use bevy::asset::AssetPath;
use bevy::prelude::*;
use bevy::sprite::SpriteImageMode;
use bevy_egui::input::EguiWantsInput;
use bevy_kiln::{AssetGenerated, GenerationFailed, KilnLoadSettings, KilnPlugins, KilnStrings};
use bevy_kiln_editor::KilnEditorPlugin;

const ROOM: Vec2 = Vec2::new(960.0, 576.0);
const WALL: f32 = 64.0;
const FLOOR: &str = "dungeon.kiln.ron#floor/0";
const WALL_TEXTURE: &str = "dungeon.kiln.ron#wall/0";
const LORE: &str = "lore.kiln.ron#creatures/strings";
const MUSIC: &str = "music.kiln.ron#tavern/0";

/// The repository's root, where `assets/`, `models/` and `baked/` are.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The game with Kiln's plugins and editor panel, ready to run.
pub fn app() -> App {
    let mut app = App::new();
    app.add_plugins((
        KilnPlugins::with_models(format!("{ROOT}/models")),
        DefaultPlugins
            .set(AssetPlugin {
                file_path: format!("{ROOT}/assets"),
                ..default()
            })
            .set(bevy::log::LogPlugin {
                // ONNX Runtime logs every allocation at info level.
                filter: "info,ort=warn,wgpu=error,naga=warn".into(),
                ..default()
            })
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Kiln dungeon (F2: editor, R: regenerate)".into(),
                    resolution: (1024, 640).into(),
                    ..default()
                }),
                ..default()
            }),
    ))
    .add_plugins(KilnEditorPlugin {
        assets_dir: format!("{ROOT}/assets").into(),
        models_dir: format!("{ROOT}/models").into(),
        bake_dir: format!("{ROOT}/baked").into(),
        ..default()
    })
    .insert_resource(Generation(0))
    .add_systems(Startup, setup)
    .add_systems(
        Update,
        (
            regenerate_on_r,
            regenerate_lore_and_music.after(regenerate_on_r),
            wander,
            show_tooltip,
            show_status,
        ),
    );
    app
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

/// The flavour text shown next to the character under the cursor.
#[derive(Component)]
struct Tooltip;

/// The string table the tooltips read (`creatures/<i>`).
#[derive(Resource)]
struct Lore(Handle<KilnStrings>);

/// The entity playing the music loop.
#[derive(Component)]
struct Music;

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
    commands.insert_resource(Lore(load(&server, LORE, 0)));
    commands.spawn((
        Music,
        AudioPlayer::new(load(&server, MUSIC, 0)),
        PlaybackSettings::LOOP,
    ));
    commands.spawn((
        Tooltip,
        Text::new(""),
        TextFont::from_font_size(14.0),
        BackgroundColor(Color::srgba(0.05, 0.04, 0.06, 0.85)),
        Node {
            position_type: PositionType::Absolute,
            max_width: Val::Px(320.0),
            padding: UiRect::all(Val::Px(6.0)),
            display: Display::None,
            ..default()
        },
    ));
    commands.spawn((
        Status,
        Text::new("generating..."),
        Node {
            position_type: PositionType::Absolute,
            left: Val::Px(8.0),
            bottom: Val::Px(8.0),
            ..default()
        },
    ));
}

fn regenerate_on_r(
    keys: Res<ButtonInput<KeyCode>>,
    egui_input: Res<EguiWantsInput>,
    server: Res<AssetServer>,
    mut generation: ResMut<Generation>,
    mut surfaces: Query<(&mut Sprite, &Surface), Without<Walker>>,
    mut walkers: Query<(&mut Sprite, &Walker), Without<Surface>>,
) {
    // Not while the designer types into the editor panel.
    if !keys.just_pressed(KeyCode::KeyR) || egui_input.wants_any_keyboard_input() {
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

/// After R: the tooltips' string table and the music loop with the new seeds.
fn regenerate_lore_and_music(
    mut commands: Commands,
    server: Res<AssetServer>,
    generation: Res<Generation>,
    mut lore: ResMut<Lore>,
    music: Query<Entity, With<Music>>,
) {
    if !generation.is_changed() || generation.is_added() {
        return;
    }
    lore.0 = load(&server, LORE, generation.0);
    for entity in &music {
        commands
            .entity(entity)
            .insert(AudioPlayer::new(load(&server, MUSIC, generation.0)));
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

/// Shows the flavour text of the character under the cursor (`creatures/<index % variants>`).
fn show_tooltip(
    windows: Query<&Window>,
    cameras: Query<(&Camera, &GlobalTransform)>,
    walkers: Query<(&Transform, &Walker)>,
    lore: Res<Lore>,
    tables: Res<Assets<KilnStrings>>,
    mut tooltip: Query<(&mut Text, &mut Node), With<Tooltip>>,
) {
    let Ok((mut text, mut node)) = tooltip.single_mut() else {
        return;
    };
    let cursor = windows.single().ok().and_then(Window::cursor_position);
    let world = cursor.and_then(|cursor| {
        let (camera, transform) = cameras.single().ok()?;
        Some((cursor, camera.viewport_to_world_2d(transform, cursor).ok()?))
    });
    let hovered = world.and_then(|(cursor, at)| {
        let (_, walker) = walkers
            .iter()
            .find(|(transform, _)| transform.translation.truncate().distance(at) < 28.0)?;
        let table = tables.get(&lore.0)?;
        let flavour = table
            .entries
            .values()
            .nth(walker.index % table.entries.len().max(1))?;
        Some((cursor, format!("{}\n{}", flavour.name, flavour.text)))
    });
    match hovered {
        Some((cursor, flavour)) => {
            text.0 = flavour;
            node.display = Display::Flex;
            node.left = Val::Px(cursor.x + 16.0);
            node.top = Val::Px(cursor.y + 16.0);
        }
        None => node.display = Display::None,
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
