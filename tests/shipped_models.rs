//! The shipped generators in `models/`, through the real ONNX Runtime: the properties the
//! README promises of their output, measured.

use std::path::Path;

use image::GenericImageView;
use kiln_gen::pixel_art::count_colours;
use kiln_gen::{ArtPalettes, ImageGenerator, make_sprites, make_textures, seam_score};
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::{
    Bounded, ImageContract, ModelKind, ModelManifest, Size, SpriteParams, TextureParams,
};

/// The seam score compares one pixel boundary (the wrap edge) with the average of all the
/// others, so on its own it varies like any single interior line does: sparse, high-contrast
/// materials swing most. Averaged over variants it settles near 1 for a seamless generator;
/// a cut that does not tile averages about 1.7 (docs/benchmarks.md has the measurements).
const SEAMLESS_MEAN: f64 = 1.3;
/// No single variant of 128 px or more may look like a real seam.
const SEAMLESS_MAX: f64 = 2.5;

/// Shipped model `name` as Kiln runs it (with its art palettes, if it has them).
fn model(name: &str) -> (ModelManifest, ImageGenerator) {
    let (manifest, generator, path) = raw_model(name);
    let generator = generator
        .with_palettes_beside(&path)
        .expect("the art palettes the manifest names");
    (manifest, generator)
}

/// Shipped model `name`, its output as the ONNX file gives it (no art palettes), and the path of
/// its manifest.
fn raw_model(name: &str) -> (ModelManifest, ImageGenerator, std::path::PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
        .join("model.ron");
    let manifest = ModelManifest::load(&path).expect("shipped manifest");
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(2),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    let session = sessions
        .load_model(&manifest, &path)
        .expect("shipped model matches its manifest");
    let generator = ImageGenerator::new(&manifest, session).expect("image model");
    (manifest, generator, path)
}

fn image_contract(manifest: &ModelManifest) -> &ImageContract {
    match &manifest.kind {
        ModelKind::ImageGenerator(contract) => contract,
        other => panic!("{} is not an image generator: {other:?}", manifest.name),
    }
}

fn texture_params(size: u32, class: &str, normal_map: bool) -> TextureParams {
    let side = Bounded::new(size).expect("side");
    TextureParams {
        size: Size(side, side),
        class: Some(class.to_owned()),
        normal_map,
        scale: Bounded::new(1).expect("scale"),
        palette: None,
    }
}

#[test]
fn textures_tile_seamlessly_at_every_size_and_class() {
    let (manifest, textures) = model("kiln_textures");
    let contract = image_contract(&manifest);
    assert!(contract.classes.len() >= 6, "{:?}", contract.classes);
    for size in [32, 64, 512] {
        let made =
            make_textures(&textures, &texture_params(size, "sand", false), [1]).expect("generate");
        assert_eq!(made[0].image.dimensions(), (size, size));
    }
    for class in &contract.classes {
        let made =
            make_textures(&textures, &texture_params(128, class, false), 10..16).expect("generate");
        let scores: Vec<f64> = made.iter().map(|t| t.seam_score).collect();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!(
            mean < SEAMLESS_MEAN,
            "{class}: mean seam score {mean:.2} ({scores:.2?})"
        );
        assert!(
            scores.iter().all(|&s| s < SEAMLESS_MAX),
            "{class}: {scores:.2?}"
        );
        assert_eq!(made[0].seam_score, seam_score(&made[0].image, 8));
        assert_ne!(made[0].image, made[1].image, "variants differ");
    }
    // Two different materials side by side do not tile: the score must say so.
    let left = &make_textures(&textures, &texture_params(128, "grass", false), [3])
        .expect("generate")[0]
        .image;
    let right = &make_textures(&textures, &texture_params(128, "marble", false), [3])
        .expect("generate")[0]
        .image;
    let mut spliced = left.clone();
    image::imageops::replace(
        &mut spliced,
        &image::imageops::crop_imm(right, 64, 0, 64, 128).to_image(),
        64,
        0,
    );
    assert!(
        seam_score(&spliced, 8) > SEAMLESS_MAX,
        "spliced score {}",
        seam_score(&spliced, 8)
    );
}

#[test]
fn texture_classes_look_different_and_seeds_reproduce() {
    let (_, textures) = model("kiln_textures");
    let mean_colour = |class: &str| {
        let texture =
            &make_textures(&textures, &texture_params(64, class, false), [1]).expect("generate")[0];
        let n = f64::from(64 * 64);
        let sum = texture.image.pixels().fold([0.0; 3], |acc, p| {
            [
                acc[0] + f64::from(p[0]),
                acc[1] + f64::from(p[1]),
                acc[2] + f64::from(p[2]),
            ]
        });
        sum.map(|c| c / n)
    };
    let (grass, sand) = (mean_colour("grass"), mean_colour("sand"));
    assert!(
        grass[1] > grass[0] && grass[1] > grass[2],
        "grass is green: {grass:?}"
    );
    assert!(sand[0] > sand[2], "sand is warm: {sand:?}");

    let params = texture_params(128, "mossy_stone", true);
    let a = make_textures(&textures, &params, [42]).expect("generate");
    let b = make_textures(&textures, &params, [42]).expect("generate");
    assert_eq!(a[0].image, b[0].image);
    assert_eq!(a[0].normal_map, b[0].normal_map);
    assert_eq!(
        a[0].normal_map.as_ref().map(|n| n.dimensions()),
        Some((128, 128))
    );
}

#[test]
fn sprites_have_hard_alpha_bounded_palette_and_an_atlas() {
    let (manifest, sprites) = model("kiln_sprites");
    let contract = image_contract(&manifest);
    assert!(contract.classes.len() >= 2);
    for class in &contract.classes {
        let params = SpriteParams {
            class: Some(class.clone()),
            palette: Bounded::new(8).expect("palette"),
            outline: Some((10, 10, 10)),
            scale: Bounded::new(3).expect("scale"),
            despeckle: true,
        };
        let set = make_sprites(&sprites, &params, 0..9).expect("generate");
        for (_, sprite) in &set.sprites {
            assert_eq!(sprite.dimensions(), (96, 96));
            assert!(
                sprite.pixels().all(|p| p[3] == 0 || p[3] == 255),
                "{class}: soft alpha"
            );
            assert!(
                count_colours(sprite) <= 8,
                "{class}: {} colours",
                count_colours(sprite)
            );
            let opaque = sprite.pixels().filter(|p| p[3] == 255).count() as f64 / (96.0 * 96.0);
            assert!(
                (0.05..0.95).contains(&opaque),
                "{class}: {opaque:.2} of the sprite is opaque"
            );
        }
        assert_ne!(set.sprites[0].1, set.sprites[1].1, "variants differ");
        assert_eq!(set.sheet.dimensions(), (288, 288));
        assert_eq!(set.layout.textures.len(), 9);
        let rect = set.layout.textures[4];
        let cell = set.sheet.view(rect.min.0, rect.min.1, 96, 96).to_image();
        assert_eq!(cell, set.sprites[4].1);
    }
}

#[test]
fn pixel_art_textures_keep_their_art_scale_and_palette() {
    let (_, textures) = model("kiln_textures");
    let params = TextureParams {
        scale: Bounded::new(4).expect("scale"),
        palette: Some(Bounded::new(12).expect("palette")),
        ..texture_params(256, "brick_wall", true)
    };
    let made = make_textures(&textures, &params, [7, 8]).expect("generate");
    for texture in &made {
        let image = &texture.image;
        assert_eq!(image.dimensions(), (256, 256));
        // Every art pixel is a 4×4 block of one colour, in the texture and its normal map.
        let normal = texture.normal_map.as_ref().expect("normal map");
        for (x, y, pixel) in image.enumerate_pixels() {
            assert_eq!(pixel, image.get_pixel(x / 4 * 4, y / 4 * 4), "({x}, {y})");
            assert_eq!(
                normal.get_pixel(x, y),
                normal.get_pixel(x / 4 * 4, y / 4 * 4)
            );
        }
        let colours: std::collections::HashSet<_> = image.pixels().collect();
        assert!(colours.len() <= 12, "{} colours", colours.len());
        assert!(
            colours.len() >= 4,
            "a flat texture: {} colours",
            colours.len()
        );
        // The seam is measured on the art pixels the model drew.
        let art = image::imageops::resize(image, 64, 64, image::imageops::FilterType::Nearest);
        assert_eq!(texture.seam_score, seam_score(&art, 8));
    }
    assert_ne!(made[0].image, made[1].image);

    // A side that is a multiple of the stride but not of stride × scale is refused with the fix.
    let odd = TextureParams {
        size: Size(
            Bounded::new(72).expect("side"),
            Bounded::new(64).expect("side"),
        ),
        ..params
    };
    let err = make_textures(&textures, &odd, [1]).expect_err("72 is not a multiple of 32");
    let message = err.to_string();
    assert!(message.contains("multiple of 32"), "{message}");
    assert!(message.contains("64x64"), "{message}");
}

#[test]
fn textures_are_drawn_in_their_class_art_palette() {
    let (manifest, textures) = model("kiln_textures");
    let (_, raw, path) = raw_model("kiln_textures");
    let contract = image_contract(&manifest);
    let file = contract
        .palettes
        .as_deref()
        .expect("kiln_textures names art palettes");
    let png = std::fs::read(path.with_file_name(file)).expect("palettes file");
    let palettes = ArtPalettes::from_png(&png, &contract.classes).expect("art palettes");
    for class in ["brick_wall", "marble"] {
        let index = contract
            .classes
            .iter()
            .position(|c| c == class)
            .expect("class");
        let palette = palettes.class(index).expect("a row per class");
        let params = texture_params(64, class, false);
        let drawn = &make_textures(&textures, &params, [11]).expect("generate")[0].image;
        let colours: std::collections::HashSet<_> = drawn.pixels().map(|p| p.0).collect();
        assert!(
            colours.iter().all(|&c| palette.nearest(c) == c),
            "{class}: a colour outside its art palette"
        );
        // The model paints near-shades; the palette gives the art's ramps back: Crawl's bricks
        // are drawn in 8 colours, its marble in thousands.
        let painted = &make_textures(&raw, &params, [11]).expect("generate")[0].image;
        let painted_colours: std::collections::HashSet<_> = painted.pixels().map(|p| p.0).collect();
        assert!(
            colours.len() <= palette.len() && colours.len() < painted_colours.len(),
            "{class}: {} colours drawn, {} painted, {} in the palette",
            colours.len(),
            painted_colours.len(),
            palette.len()
        );
        if class == "brick_wall" {
            assert!(
                palette.len() <= 16 && painted_colours.len() > 100,
                "{} painted",
                painted_colours.len()
            );
        }
    }
}

/// Exact seamlessness, which the statistical seam score can only estimate: the texture model is
/// equivariant to circular shifts of its latent grid. Rolling the latent by one cell rolls the
/// texture by one stride, so the wrap-around edge is drawn exactly like every interior cell
/// boundary — there is no seam to find, whatever the content's own structure.
#[test]
fn texture_model_is_shift_equivariant_so_every_texture_tiles_exactly() {
    // The network itself: the art palettes map colours pixel by pixel, so they keep any
    // equivariance, but a 1/255 rounding difference may land on another palette colour.
    let (manifest, textures, _) = raw_model("kiln_textures");
    let stride = image_contract(&manifest).stride.expect("stride") as usize;
    let (cells_x, cells_y) = (6_usize, 4_usize);
    let size = Some(((cells_x * stride) as u32, (cells_y * stride) as u32));
    let len = textures
        .latent_shape(size)
        .expect("shape")
        .iter()
        .product::<i64>() as usize;
    let channels = len / (cells_x * cells_y);
    let latent = kiln_gen::gaussian(5, len);
    // Roll the latent one cell right and two cells down (row-major [1, C, h, w]).
    let mut rolled = vec![0.0; len];
    for c in 0..channels {
        for y in 0..cells_y {
            for x in 0..cells_x {
                let from = (c * cells_y + y) * cells_x + x;
                let to = (c * cells_y + (y + 2) % cells_y) * cells_x + (x + 1) % cells_x;
                rolled[to] = latent[from];
            }
        }
    }
    for class in ["brick_wall", "stone_floor", "water"] {
        let plain = textures
            .generate_from_latent(latent.clone(), size, Some(class))
            .expect("generate")
            .to_rgb8();
        let shifted = textures
            .generate_from_latent(rolled.clone(), size, Some(class))
            .expect("generate")
            .to_rgb8();
        let (width, height) = plain.dimensions();
        let mut worst = 0;
        for (x, y, pixel) in shifted.enumerate_pixels() {
            let source = plain.get_pixel(
                (x + width - stride as u32) % width,
                (y + height - 2 * stride as u32) % height,
            );
            for channel in 0..3 {
                worst = worst.max(pixel[channel].abs_diff(source[channel]));
            }
        }
        // Float summation order may differ by position: at most one step of 8-bit rounding.
        assert!(
            worst <= 1,
            "{class}: rolled latent differs by {worst}/255 from the rolled texture"
        );
    }
}
