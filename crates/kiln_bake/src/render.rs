//! Generating an entry's files in memory: images, sheets and atlases, encoded and ready to write.

use std::collections::BTreeMap;
use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use kiln_gen::{ImageGenerator, make_sprites, make_textures};
use kiln_recipe::AssetKind;

use crate::{ATLAS_FILE, EntryError, Job, SHEET_FILE};

/// One file of an entry, encoded and ready to write.
pub(crate) struct Output {
    /// File name inside the entry's output folder.
    pub file: String,
    pub bytes: Vec<u8>,
    /// The variant it shows; `None` for files combining all variants (sheets).
    pub variant: Option<u32>,
    pub metrics: BTreeMap<String, f64>,
}

pub(crate) fn render(job: &Job, generator: &ImageGenerator) -> Result<Vec<Output>, EntryError> {
    let seeds = (0..job.entry.variants.get()).map(|variant| job.seed(variant));
    let single =
        |variant: usize, file: String, bytes: Vec<u8>, metrics: BTreeMap<String, f64>| Output {
            file,
            bytes,
            variant: Some(variant as u32),
            metrics,
        };
    let mut outputs = Vec::new();
    match &job.entry.kind {
        AssetKind::Texture(params) => {
            for (variant, texture) in make_textures(generator, params, seeds)?
                .into_iter()
                .enumerate()
            {
                let metrics = BTreeMap::from([("seam_score".to_owned(), texture.seam_score)]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&texture.image.into()),
                    metrics,
                ));
                if let Some(normal) = texture.normal_map {
                    outputs.push(single(
                        variant,
                        format!("{variant}.normal.png"),
                        encode_png(&normal.into()),
                        BTreeMap::new(),
                    ));
                }
            }
        }
        AssetKind::Sprite(params) => {
            let set = make_sprites(generator, params, seeds)?;
            for (variant, (_, sprite)) in set.sprites.into_iter().enumerate() {
                let metrics = BTreeMap::from([(
                    "colours".to_owned(),
                    kiln_gen::sprite::count_colours(&sprite) as f64,
                )]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&sprite.into()),
                    metrics,
                ));
            }
            let whole = |file: &str, bytes| Output {
                file: file.to_owned(),
                bytes,
                variant: None,
                metrics: BTreeMap::new(),
            };
            outputs.push(whole(SHEET_FILE, encode_png(&set.sheet.into())));
            outputs.push(whole(ATLAS_FILE, set.layout.to_ron().into_bytes()));
        }
    }
    Ok(outputs)
}

/// PNG bytes of `image` (deterministic: same pixels, same bytes).
fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap_or_else(|err| unreachable!("PNG encoding into memory cannot fail: {err}"));
    bytes
}
