//! The egui panel: recipes and entries on the left, the selected entry's parameters, the
//! gallery of generated variants, pin and bake. Drawing only reads and edits the
//! [`Workbench`]; actions that start work are returned to the plugin.

use std::collections::HashMap;
use std::time::Instant;

use bevy_egui::egui::{
    self, Color32, ColorImage, Context, Pos2, Rect, RichText, Sense, Stroke, TextureHandle,
    TextureOptions, Ui, Vec2, load::SizedTexture,
};
use kiln_onnx::ProviderPolicy;
use kiln_recipe::AssetKind;

use crate::gallery::{Content, Gallery, Variant};
use crate::params::edit_entry;
use crate::workbench::{Selection, Workbench};

/// What the user asked for this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Generate,
    Bake,
    Pin(usize),
    Rescan,
    /// Play gallery loop `i` (stopping any other).
    Play(usize),
    Stop,
}

/// What the panel keeps between frames.
#[derive(Default)]
pub(crate) struct PanelState {
    /// egui textures of the gallery's images, for gallery generation `textures_for`.
    textures: HashMap<usize, TextureHandle>,
    textures_for: u64,
    /// Where the Generate button was drawn last frame (UI automation reads it).
    pub(crate) generate_button: Option<Rect>,
    /// The gallery loop playing and since when.
    pub(crate) playing: Option<(usize, Instant)>,
}

/// Width of one gallery thumbnail.
const THUMBNAIL: f32 = 144.0;
const ERROR: Color32 = Color32::from_rgb(255, 120, 110);

/// Draws the panel; returns the actions the user took.
pub(crate) fn draw(
    ctx: &Context,
    workbench: &mut Workbench,
    state: &mut PanelState,
    provider: &mut ProviderPolicy,
) -> Vec<Action> {
    let mut actions = Vec::new();
    egui::Window::new("Kiln")
        .id(egui::Id::new("kiln_editor"))
        .default_pos([8.0, 8.0])
        .default_width(340.0)
        .default_height(600.0)
        .vscroll(true)
        .show(ctx, |ui| {
            header(ui, workbench, provider, &mut actions);
            ui.separator();
            egui::ScrollArea::vertical()
                .id_salt("kiln_recipes")
                .max_height(200.0)
                .show(ui, |ui| recipes(ui, workbench));
            ui.separator();
            entry(ui, workbench, state, &mut actions);
            ui.separator();
            bake(ui, workbench, &mut actions);
            notices(ui, workbench);
        });
    if workbench.gallery().is_some() || workbench.is_busy() {
        egui::Window::new("Variants")
            .id(egui::Id::new("kiln_variants"))
            .default_pos([360.0, 12.0])
            .default_width(4.0 * (THUMBNAIL + 12.0))
            .vscroll(true)
            .show(ctx, |ui| gallery(ui, workbench, state, &mut actions));
    }
    actions
}

fn header(
    ui: &mut Ui,
    workbench: &Workbench,
    provider: &mut ProviderPolicy,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        ui.heading("Kiln");
        if ui
            .small_button("⟳")
            .on_hover_text("read recipes and models again")
            .clicked()
        {
            actions.push(Action::Rescan);
        }
    });
    ui.horizontal(|ui| {
        ui.label("execution provider");
        egui::ComboBox::from_id_salt("kiln_provider")
            .selected_text(provider.to_string())
            .show_ui(ui, |ui| {
                for policy in [
                    ProviderPolicy::Auto,
                    ProviderPolicy::Cpu,
                    ProviderPolicy::Cuda,
                ] {
                    ui.selectable_value(provider, policy, policy.to_string());
                }
            });
    });
    match workbench.gallery() {
        Some(gallery) => ui.label(format!(
            "last generation: {} on {} in {:.2} s ({:.2} s in session.run)",
            gallery.entry,
            gallery.execution_provider,
            gallery.elapsed.as_secs_f32(),
            gallery.inference.as_secs_f32()
        )),
        None => ui.weak("nothing generated yet"),
    };
}

fn recipes(ui: &mut Ui, workbench: &mut Workbench) {
    let mut select = None;
    let mut checked = std::mem::take(&mut workbench.bake_checked);
    let selected = workbench.selection().map(Selection::id);
    let catalog = workbench.catalog();
    if catalog.recipes.is_empty() {
        ui.colored_label(
            ERROR,
            format!(
                "no *.kiln.ron recipes under {}",
                workbench.paths().assets.display()
            ),
        );
    }
    for file in &catalog.recipes {
        egui::CollapsingHeader::new(&file.label)
            .id_salt(&file.label)
            .default_open(true)
            .show(ui, |ui| match &file.recipe {
                Err(message) => {
                    ui.colored_label(ERROR, message);
                }
                Ok(recipe) => {
                    for (name, entry) in &recipe.assets {
                        let id = format!("{}#{name}", file.label);
                        ui.horizontal(|ui| {
                            let mut ticked = checked.contains(&id);
                            if ui
                                .checkbox(&mut ticked, "")
                                .on_hover_text("bake this entry")
                                .changed()
                            {
                                if ticked {
                                    checked.insert(id.clone());
                                } else {
                                    checked.remove(&id);
                                }
                            }
                            let text =
                                format!("{name}  ·  {} · {}", entry.kind.name(), entry.model);
                            let is_selected = selected.as_ref() == Some(&id);
                            if ui.selectable_label(is_selected, text).clicked() {
                                select = Some((file.label.clone(), name.clone()));
                            }
                        });
                    }
                }
            });
    }
    workbench.bake_checked = checked;
    if let Some((recipe, entry)) = select {
        workbench.select(&recipe, &entry);
    }
}

fn entry(
    ui: &mut Ui,
    workbench: &mut Workbench,
    state: &mut PanelState,
    actions: &mut Vec<Action>,
) {
    let busy = workbench.is_busy();
    let progress = workbench.progress();
    let models = workbench.catalog().models.clone();
    let Some(selection) = workbench.selection_mut() else {
        ui.weak("select an entry to edit and generate it");
        state.generate_button = None;
        return;
    };
    ui.label(RichText::new(selection.id()).strong());
    ui.horizontal(|ui| {
        let generate = ui.add_enabled(!busy, egui::Button::new("Generate"));
        // Only where it can be clicked: inside the panel's visible area.
        state.generate_button = ui
            .clip_rect()
            .contains_rect(generate.rect)
            .then_some(generate.rect);
        if generate.clicked() {
            actions.push(Action::Generate);
        }
        let dirty = selection.is_dirty();
        if ui
            .add_enabled(dirty, egui::Button::new("Revert"))
            .on_hover_text("back to what the recipe file says")
            .clicked()
        {
            selection.draft = selection.saved.clone();
        }
        if dirty {
            ui.weak("edited (pin a variant to save)");
        }
    });
    if let Some(progress) = progress {
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            let fraction = progress.started as f32 / progress.total.max(1) as f32;
            ui.add(egui::ProgressBar::new(fraction).text(format!(
                "{}: {}/{} · {:.1} s",
                progress.what,
                progress.started,
                progress.total,
                progress.elapsed.as_secs_f32()
            )));
        });
        ui.ctx().request_repaint();
    }
    edit_entry(ui, &mut selection.draft, &models);
}

fn bake(ui: &mut Ui, workbench: &Workbench, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let ready = !workbench.is_busy() && !workbench.bake_checked.is_empty();
        let target = workbench.paths().bake.display().to_string();
        if ui
            .add_enabled(ready, egui::Button::new(format!("Bake {} ticked", workbench.bake_checked.len())))
            .on_hover_text(format!(
                "write the ticked entries, as saved, to {target} with the same manifest as `kiln bake`"
            ))
            .clicked()
        {
            actions.push(Action::Bake);
        }
        if let Some(summary) = workbench.last_bake() {
            ui.weak(format!(
                "last: {} files in {:.1} s",
                summary.written,
                summary.elapsed.as_secs_f32()
            ));
        }
    });
}

fn notices(ui: &mut Ui, workbench: &mut Workbench) {
    if workbench.notices().is_empty() {
        return;
    }
    ui.separator();
    for notice in workbench.notices() {
        let text = RichText::new(&notice.message);
        if notice.error {
            ui.colored_label(ERROR, text);
        } else {
            ui.label(text);
        }
    }
    if ui.small_button("clear messages").clicked() {
        workbench.clear_notices();
    }
}

fn gallery(ui: &mut Ui, workbench: &Workbench, state: &mut PanelState, actions: &mut Vec<Action>) {
    let Some(gallery) = workbench.gallery() else {
        ui.weak("generating…");
        return;
    };
    if state.textures_for != workbench.gallery_generation() {
        state.textures.clear();
        state.textures_for = workbench.gallery_generation();
    }
    ui.label(format!(
        "{}#{}: {} variants",
        gallery.recipe,
        gallery.entry,
        gallery.variants.len()
    ));
    let pin_hint = "write this variant's seed and the parameters it was made with into the \
                    recipe; the entry's variant 0 becomes this one";
    match gallery.made_with.kind {
        AssetKind::Texture(_) | AssetKind::Sprite(_) => {
            ui.horizontal_wrapped(|ui| {
                for (index, variant) in gallery.variants.iter().enumerate() {
                    ui.group(|ui| {
                        ui.vertical(|ui| {
                            image(ui, state, gallery, index, variant);
                            ui.label(caption(variant));
                            if ui.button("Pin").on_hover_text(pin_hint).clicked() {
                                actions.push(Action::Pin(index));
                            }
                        });
                    });
                }
            });
        }
        AssetKind::Text(_) | AssetKind::Music(_) | AssetKind::Completion(_) => {
            for (index, variant) in gallery.variants.iter().enumerate() {
                ui.group(|ui| {
                    ui.set_width(ui.available_width());
                    match &variant.content {
                        Content::Text(flavour) => {
                            ui.label(RichText::new(&flavour.name).strong());
                            ui.label(&flavour.text);
                        }
                        Content::Loop {
                            waveform, seconds, ..
                        } => loop_player(ui, state, index, waveform, *seconds, actions),
                        Content::Image { .. } => {}
                    }
                    ui.horizontal(|ui| {
                        ui.weak(caption(variant));
                        if ui.button("Pin").on_hover_text(pin_hint).clicked() {
                            actions.push(Action::Pin(index));
                        }
                    });
                });
            }
        }
    }
}

/// A texture tiled 2×2 (so seams show) or a sprite upscaled with nearest filtering.
fn image(ui: &mut Ui, state: &mut PanelState, gallery: &Gallery, index: usize, variant: &Variant) {
    let Content::Image { size, rgba, sprite } = &variant.content else {
        return;
    };
    let texture = state.textures.entry(index).or_insert_with(|| {
        let options = if *sprite {
            TextureOptions::NEAREST
        } else {
            TextureOptions::LINEAR_REPEAT
        };
        ui.ctx().load_texture(
            format!("kiln-{}-{}-{index}", gallery.recipe, gallery.entry),
            ColorImage::from_rgba_unmultiplied(*size, rgba),
            options,
        )
    });
    let aspect = size[1] as f32 / size[0].max(1) as f32;
    let shown = Vec2::new(THUMBNAIL, THUMBNAIL * aspect);
    let widget = egui::Image::new(SizedTexture::new(texture.id(), shown));
    if *sprite {
        ui.add(widget);
    } else {
        ui.add(widget.uv(Rect::from_min_max(Pos2::ZERO, Pos2::new(2.0, 2.0))))
            .on_hover_text("tiled 2×2: the seams are at the middle lines");
    }
}

fn caption(variant: &Variant) -> String {
    let mut caption = format!("seed {}", variant.seed);
    for (name, value) in &variant.metrics {
        let name = name.replace('_', " ");
        caption.push_str(&format!(" · {name} {value:.2}"));
    }
    caption
}

/// Play/stop and the waveform, with a playhead while playing.
fn loop_player(
    ui: &mut Ui,
    state: &PanelState,
    index: usize,
    waveform: &[(f32, f32)],
    seconds: f32,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        let playing = state.playing.filter(|(i, _)| *i == index);
        if cfg!(feature = "audio") {
            let label = if playing.is_some() {
                "■ Stop"
            } else {
                "▶ Play"
            };
            if ui.button(label).clicked() {
                actions.push(if playing.is_some() {
                    Action::Stop
                } else {
                    Action::Play(index)
                });
            }
        }
        let (rect, _) = ui.allocate_exact_size(Vec2::new(320.0, 48.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        let stroke = Stroke::new(1.0, ui.visuals().text_color());
        let column = rect.width() / waveform.len().max(1) as f32;
        for (i, (low, high)) in waveform.iter().enumerate() {
            let x = rect.left() + (i as f32 + 0.5) * column;
            let y = |v: f32| rect.center().y - v * rect.height() * 0.5;
            painter.line_segment([Pos2::new(x, y(*high)), Pos2::new(x, y(*low))], stroke);
        }
        if let Some((_, since)) = playing {
            let t = (since.elapsed().as_secs_f32() % seconds.max(0.001)) / seconds.max(0.001);
            let x = rect.left() + t * rect.width();
            painter.line_segment(
                [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
                Stroke::new(1.5, Color32::from_rgb(255, 200, 80)),
            );
            ui.ctx().request_repaint();
        }
        ui.weak(format!("{seconds:.2} s loop"));
    });
}
