//! One widget per recipe parameter, with the ranges the recipe format accepts and the choices
//! the selected model's manifest offers.

use std::collections::BTreeMap;

use bevy_egui::egui::{self, ComboBox, DragValue, Slider, Ui};
use kiln_recipe::{
    AssetEntry, AssetKind, Bounded, CompletionParams, Instrument, Mode, MusicParams, Sampling,
    SpriteParams, TextParams, TextureParams,
};

use crate::catalog::ModelChoices;

/// Keys offered for music (any of these parses as a tonic).
const KEYS: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];
const INSTRUMENTS: [Instrument; 5] = [
    Instrument::Sine,
    Instrument::Triangle,
    Instrument::Square,
    Instrument::Saw,
    Instrument::Organ,
];

type Models = BTreeMap<String, Result<ModelChoices, String>>;

/// Edits every parameter of `entry` in a two-column grid.
pub(crate) fn edit_entry(ui: &mut Ui, entry: &mut AssetEntry, models: &Models) {
    let choices = models
        .get(&entry.model)
        .and_then(|model| model.as_ref().ok())
        .cloned()
        .unwrap_or_default();
    egui::Grid::new("kiln_parameters")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("model");
            ComboBox::from_id_salt("kiln_model")
                .selected_text(&entry.model)
                .show_ui(ui, |ui| {
                    for (name, model) in models {
                        let fits = model.as_ref().is_ok_and(|m| m.fits(&entry.kind));
                        if fits {
                            ui.selectable_value(&mut entry.model, name.clone(), name);
                        }
                    }
                });
            ui.end_row();

            ui.label("seed");
            ui.add(DragValue::new(&mut entry.seed));
            ui.end_row();

            ui.label("variants");
            bounded(ui, &mut entry.variants);
            ui.end_row();

            match &mut entry.kind {
                AssetKind::Texture(texture) => edit_texture(ui, texture, &choices),
                AssetKind::Sprite(sprite) => edit_sprite(ui, sprite, &choices),
                AssetKind::Text(text) => edit_text(ui, text, &choices),
                AssetKind::Music(music) => edit_music(ui, music),
                AssetKind::Completion(completion) => edit_completion(ui, completion),
            }
        });
}

fn edit_texture(ui: &mut Ui, texture: &mut TextureParams, choices: &ModelChoices) {
    ui.label("class");
    class(ui, &mut texture.class, choices);
    ui.end_row();
    ui.label("scale");
    bounded(ui, &mut texture.scale).on_hover_text("art pixel size: nearest-neighbour upscale");
    ui.end_row();
    // Sides stay multiples of what the model draws in one latent cell, times the art scale.
    let step = choices.stride.unwrap_or(1).max(1) * texture.scale.get();
    ui.label("size");
    ui.horizontal(|ui| {
        side(ui, &mut texture.size.0, step);
        ui.label("×");
        side(ui, &mut texture.size.1, step);
    })
    .response
    .on_hover_text(format!("multiples of {step} px"));
    ui.end_row();
    ui.label("palette");
    ui.horizontal(|ui| {
        let mut bounded_palette = texture.palette.is_some();
        if ui.checkbox(&mut bounded_palette, "").changed() {
            texture.palette = bounded_palette
                .then(|| Bounded::new(16).unwrap_or_else(|err| unreachable!("{err}")));
        }
        match &mut texture.palette {
            Some(colours) => {
                bounded(ui, colours).on_hover_text("most colours in the texture");
            }
            None => {
                ui.weak("all colours");
            }
        }
    });
    ui.end_row();
    ui.label("normal map");
    ui.checkbox(&mut texture.normal_map, "");
    ui.end_row();
}

fn edit_sprite(ui: &mut Ui, sprite: &mut SpriteParams, choices: &ModelChoices) {
    ui.label("class");
    class(ui, &mut sprite.class, choices);
    ui.end_row();
    ui.label("palette");
    bounded(ui, &mut sprite.palette).on_hover_text("most colours per sprite");
    ui.end_row();
    ui.label("outline");
    ui.horizontal(|ui| {
        let mut on = sprite.outline.is_some();
        if ui.checkbox(&mut on, "").changed() {
            sprite.outline = on.then_some((20, 16, 24));
        }
        if let Some((r, g, b)) = &mut sprite.outline {
            let mut colour = [*r, *g, *b];
            if ui.color_edit_button_srgb(&mut colour).changed() {
                (*r, *g, *b) = (colour[0], colour[1], colour[2]);
            }
        }
    });
    ui.end_row();
    ui.label("despeckle");
    ui.checkbox(&mut sprite.despeckle, "").on_hover_text(
        "repaint isolated low-contrast pixels with their closest neighbour's colour",
    );
    ui.end_row();
    ui.label("scale");
    bounded(ui, &mut sprite.scale).on_hover_text("nearest-neighbour upscale");
    ui.end_row();
}

fn edit_text(ui: &mut Ui, text: &mut TextParams, choices: &ModelChoices) {
    ui.label("kind");
    ComboBox::from_id_salt("kiln_text_kind")
        .selected_text(&text.kind)
        .show_ui(ui, |ui| {
            for kind in &choices.classes {
                ui.selectable_value(&mut text.kind, kind.clone(), kind);
            }
        });
    ui.end_row();
    ui.label("name");
    ui.horizontal(|ui| {
        let mut named = text.name.is_some();
        if ui.checkbox(&mut named, "").changed() {
            text.name = named.then(String::new);
        }
        match &mut text.name {
            Some(name) => {
                ui.text_edit_singleline(name);
            }
            None => {
                ui.weak("invented by the model");
            }
        }
    });
    ui.end_row();
    ui.label("words");
    ui.horizontal(|ui| {
        bounded(ui, &mut text.min_words);
        ui.label("to");
        bounded(ui, &mut text.max_words);
    });
    if text.min_words > text.max_words {
        text.max_words = text.min_words;
    }
    ui.end_row();
    ui.label("candidates");
    bounded(ui, &mut text.candidates)
        .on_hover_text("descriptions drawn per variant; the most natural is kept");
    ui.end_row();
    sampling(ui, &mut text.sampling);
}

fn edit_music(ui: &mut Ui, music: &mut MusicParams) {
    ui.label("key");
    ui.horizontal(|ui| {
        ComboBox::from_id_salt("kiln_key")
            .selected_text(&music.key)
            .width(56.0)
            .show_ui(ui, |ui| {
                for key in KEYS {
                    ui.selectable_value(&mut music.key, key.to_owned(), key);
                }
            });
        ComboBox::from_id_salt("kiln_mode")
            .selected_text(music.mode.name())
            .width(72.0)
            .show_ui(ui, |ui| {
                for mode in [Mode::Major, Mode::Minor] {
                    ui.selectable_value(&mut music.mode, mode, mode.name());
                }
            });
    });
    ui.end_row();
    ui.label("tempo");
    bounded(ui, &mut music.tempo).on_hover_text("beats per minute");
    ui.end_row();
    ui.label("bars");
    bounded(ui, &mut music.bars);
    ui.end_row();
    ui.label("lead");
    instrument(ui, "kiln_lead", &mut music.instruments.lead);
    ui.end_row();
    ui.label("bass");
    instrument(ui, "kiln_bass", &mut music.instruments.bass);
    ui.end_row();
    ui.label("chords");
    ComboBox::from_id_salt("kiln_chords")
        .selected_text(music.instruments.chords.map_or("none", instrument_name))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut music.instruments.chords, None, "none");
            for choice in INSTRUMENTS {
                ui.selectable_value(
                    &mut music.instruments.chords,
                    Some(choice),
                    instrument_name(choice),
                );
            }
        });
    ui.end_row();
    ui.label("drums");
    ui.checkbox(&mut music.drums, "");
    ui.end_row();
    sampling(ui, &mut music.sampling);
}

fn edit_completion(ui: &mut Ui, completion: &mut CompletionParams) {
    ui.label("prompt");
    ui.text_edit_multiline(&mut completion.prompt)
        .on_hover_text("the text the model continues, as written");
    ui.end_row();
    ui.label("stop");
    ui.vertical(|ui| {
        let mut remove = None;
        for (index, stop) in completion.stop.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                // Escaped, so a line break can be typed as \n.
                let mut shown = stop.replace('\n', "\\n").replace('\t', "\\t");
                if ui.text_edit_singleline(&mut shown).changed() {
                    *stop = shown.replace("\\n", "\n").replace("\\t", "\t");
                }
                if ui.small_button("✕").clicked() {
                    remove = Some(index);
                }
            });
        }
        if let Some(index) = remove {
            completion.stop.remove(index);
        }
        if ui.small_button("+ stop text").clicked() {
            completion.stop.push("\n".to_owned());
        }
    })
    .response
    .on_hover_text("texts that end the continuation (left out of it); \\n is a line break");
    ui.end_row();
    sampling(ui, &mut completion.sampling);
}

/// Sampling settings, over the ranges [`Sampling::check`] accepts.
fn sampling(ui: &mut Ui, sampling: &mut Sampling) {
    ui.label("temperature");
    ui.add(Slider::new(&mut sampling.temperature, 0.0..=5.0).max_decimals(2));
    ui.end_row();
    ui.label("top k");
    ui.add(DragValue::new(&mut sampling.top_k).range(0..=1000))
        .on_hover_text("0: all tokens");
    ui.end_row();
    ui.label("top p");
    ui.add(Slider::new(&mut sampling.top_p, 0.01..=1.0).max_decimals(2));
    ui.end_row();
    ui.label("repetition penalty");
    ui.add(Slider::new(&mut sampling.repetition_penalty, 1.0..=5.0).max_decimals(2));
    ui.end_row();
    ui.label("max tokens");
    bounded(ui, &mut sampling.max_tokens);
    ui.end_row();
}

/// A class drop-down; `None` is the model's first class.
fn class(ui: &mut Ui, class: &mut Option<String>, choices: &ModelChoices) {
    let first = choices.classes.first().map_or("", String::as_str);
    let shown = class
        .clone()
        .unwrap_or_else(|| format!("{first} (default)"));
    ComboBox::from_id_salt("kiln_class")
        .selected_text(shown)
        .show_ui(ui, |ui| {
            for choice in &choices.classes {
                ui.selectable_value(class, Some(choice.clone()), choice);
            }
        });
}

fn instrument(ui: &mut Ui, id: &str, value: &mut Instrument) {
    ComboBox::from_id_salt(id)
        .selected_text(instrument_name(*value))
        .show_ui(ui, |ui| {
            for choice in INSTRUMENTS {
                ui.selectable_value(value, choice, instrument_name(choice));
            }
        });
}

fn instrument_name(instrument: Instrument) -> &'static str {
    match instrument {
        Instrument::Sine => "sine",
        Instrument::Triangle => "triangle",
        Instrument::Square => "square",
        Instrument::Saw => "saw",
        Instrument::Organ => "organ",
    }
}

/// A drag value kept within the type's range.
fn bounded<const MIN: u32, const MAX: u32>(
    ui: &mut Ui,
    value: &mut Bounded<MIN, MAX>,
) -> egui::Response {
    let mut raw = value.get();
    let response = ui.add(DragValue::new(&mut raw).range(MIN..=MAX));
    if let Ok(new) = Bounded::new(raw) {
        *value = new;
    }
    response
}

/// One side of an image, kept a multiple of `stride` (pixels per latent cell × scale).
fn side(ui: &mut Ui, value: &mut kiln_recipe::Side, stride: u32) {
    let mut raw = value.get();
    let max = kiln_recipe::Side::MAX / stride * stride;
    ui.add(
        DragValue::new(&mut raw)
            .range(stride..=max)
            .speed(f64::from(stride)),
    );
    let snapped = (raw / stride * stride).clamp(stride, max);
    if let Ok(new) = Bounded::new(snapped) {
        *value = new;
    }
}
