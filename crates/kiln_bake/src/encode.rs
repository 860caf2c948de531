//! An entry's files, encoded in memory from what the engine made: images, sheets and
//! atlases, string tables, WAV and MIDI loops.

use std::collections::BTreeMap;
use std::io::Cursor;

use image::{EncodableLayout, ImageBuffer, ImageFormat, PixelWithColorType};
use kiln_engine::{Content, Made};
use rayon::prelude::*;

/// One file of an entry, encoded and ready to write.
#[derive(Clone, Debug)]
pub struct EntryFile {
    /// File name inside the entry's output folder (`0.png`, `sheet.png`, `strings.json`…).
    pub file: String,
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// The variant it shows; `None` for files combining all variants (sheets, string tables).
    pub variant: Option<u32>,
    /// Measurements recorded in the manifest (see [`Made::metrics`]).
    pub metrics: BTreeMap<String, f64>,
}

/// String table of a text entry: `<entry>/<variant>` → name and text.
pub const STRINGS_RON: &str = "strings.ron";
/// The same table as JSON.
pub const STRINGS_JSON: &str = "strings.json";
/// Sprite sheet of all variants of a sprite entry.
pub const SHEET_FILE: &str = "sheet.png";
/// Bevy `TextureAtlasLayout` (RON) for [`SHEET_FILE`].
pub const ATLAS_FILE: &str = "sheet.atlas.ron";

/// The files a bake writes for `made`, in order: per variant its main file (with the
/// variant's metrics) and companions, then files of the whole entry. Images are encoded in
/// parallel on rayon's pool.
pub(crate) fn encode(made: &Made) -> Vec<EntryFile> {
    let mut metrics = made.metrics().into_iter();
    let mut files = Vec::new();
    let mut variant_file = |variant: usize, file: String, bytes: Vec<u8>, main: bool| {
        files.push(EntryFile {
            file,
            bytes,
            variant: Some(variant as u32),
            metrics: if main {
                metrics.next().unwrap_or_default()
            } else {
                BTreeMap::new()
            },
        })
    };
    let mut whole = Vec::new();
    match &made.content {
        Content::Textures(textures) => {
            let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = textures
                .par_iter()
                .map(|texture| {
                    let normal = texture.normal_map.as_ref().map(encode_png);
                    (encode_png(&texture.image), normal)
                })
                .collect();
            for (variant, (png, normal)) in encoded.into_iter().enumerate() {
                variant_file(variant, format!("{variant}.png"), png, true);
                if let Some(png) = normal {
                    variant_file(variant, format!("{variant}.normal.png"), png, false);
                }
            }
        }
        Content::Sprites(set) => {
            let (sheet, sprites) = rayon::join(
                || encode_png(&set.sheet),
                || {
                    set.sprites
                        .par_iter()
                        .map(|(_, sprite)| encode_png(sprite))
                        .collect::<Vec<_>>()
                },
            );
            for (variant, png) in sprites.into_iter().enumerate() {
                variant_file(variant, format!("{variant}.png"), png, true);
            }
            whole.push((SHEET_FILE, sheet));
            whole.push((ATLAS_FILE, set.layout.to_ron().into_bytes()));
        }
        Content::Strings(_) => {
            let table = made.string_table();
            let ron = ron::ser::to_string_pretty(&table, ron::ser::PrettyConfig::default())
                .unwrap_or_else(|err| unreachable!("strings serialise: {err}"));
            let mut json = serde_json::to_vec_pretty(&table)
                .unwrap_or_else(|err| unreachable!("strings serialise: {err}"));
            json.push(b'\n');
            whole.push((STRINGS_RON, format!("{ron}\n").into_bytes()));
            whole.push((STRINGS_JSON, json));
        }
        Content::Loops(loops) => {
            for (variant, music) in loops.iter().enumerate() {
                variant_file(variant, format!("{variant}.wav"), music.wav.clone(), true);
                variant_file(variant, format!("{variant}.mid"), music.midi.clone(), false);
            }
        }
    }
    files.extend(whole.into_iter().map(|(file, bytes)| EntryFile {
        file: file.to_owned(),
        bytes,
        variant: None,
        metrics: BTreeMap::new(),
    }));
    files
}

/// PNG bytes of `image` (deterministic: same pixels, same bytes).
fn encode_png<P: PixelWithColorType>(image: &ImageBuffer<P, Vec<P::Subpixel>>) -> Vec<u8>
where
    [P::Subpixel]: EncodableLayout,
{
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap_or_else(|err| unreachable!("PNG encoding into memory cannot fail: {err}"));
    bytes
}
