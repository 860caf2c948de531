//! The image runner through the real ONNX Runtime on the tiny fixtures.

use std::path::Path;

use image::GenericImageView;
use kiln_gen::{GenerateError, ImageGenerator, ImageRequest};
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::ModelManifest;

fn generator(name: &str) -> ImageGenerator {
    generator_in("models", name)
}

/// The model `name` in `tests/fixtures/<folder>/` (`../../models` for the shipped ones).
fn generator_in(folder: &str, name: &str) -> ImageGenerator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(folder)
        .join(name)
        .join("model.ron");
    let manifest = ModelManifest::load(&path).expect("fixture manifest");
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    ImageGenerator::new(
        &manifest,
        sessions.load_model(&manifest, &path).expect("session"),
    )
    .expect("image model")
}

fn texture(
    seed: u64,
    size: (u32, u32),
    class: Option<&str>,
) -> Result<image::DynamicImage, GenerateError> {
    generator("tiny_texture").generate(&ImageRequest {
        seed,
        size: Some(size),
        class: class.map(str::to_owned),
    })
}

#[test]
fn same_seed_gives_identical_pixels_other_seeds_differ() {
    let a = texture(11, (32, 16), Some("moss")).expect("generate");
    let b = texture(11, (32, 16), Some("moss")).expect("generate");
    let c = texture(12, (32, 16), Some("moss")).expect("generate");
    assert_eq!(a.as_bytes(), b.as_bytes());
    assert_ne!(a.as_bytes(), c.as_bytes());
    let other_class = texture(11, (32, 16), Some("stone")).expect("generate");
    assert_ne!(
        a.as_bytes(),
        other_class.as_bytes(),
        "class conditions the output"
    );
}

#[test]
fn spatial_model_makes_any_size_on_its_stride() {
    for size in [(4, 4), (32, 16), (128, 64)] {
        let image = texture(1, size, None).expect("generate");
        assert_eq!(image.dimensions(), size);
        assert_eq!(image.color(), image::ColorType::Rgb8);
    }
    let err = texture(1, (30, 16), None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("multiple of the model's stride 4") && text.contains("28x16"),
        "{text}"
    );
}

#[test]
fn unknown_class_lists_the_classes() {
    let err = texture(1, (8, 8), Some("lava")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "model \"tiny_texture\" has no class \"lava\": use one of stone, moss"
    );
}

#[test]
fn flat_latent_model_has_fixed_size_and_alpha() {
    let sprite = generator("tiny_sprite");
    let image = sprite
        .generate(&ImageRequest {
            seed: 3,
            size: None,
            class: None,
        })
        .expect("generate");
    assert_eq!(image.dimensions(), (8, 8));
    assert_eq!(image.color(), image::ColorType::Rgba8);
    let err = sprite
        .generate(&ImageRequest {
            seed: 3,
            size: Some((16, 16)),
            class: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("only makes 8x8"), "{err}");
}

#[test]
fn pixels_use_the_whole_declared_range() {
    // tanh output in [-1, 1] maps onto 0..=255: random weights reach both ends somewhere.
    let image = texture(5, (64, 64), None).expect("generate").to_rgb8();
    let (min, max) = image
        .as_raw()
        .iter()
        .fold((255, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(min < 40 && max > 215, "range {min}..{max}");
}

#[test]
fn nan_output_is_an_error_naming_the_model() {
    let broken = generator_in("broken", "nan_sprite");
    let err = broken
        .generate(&ImageRequest {
            seed: 1,
            size: None,
            class: None,
        })
        .unwrap_err();
    assert!(
        matches!(err, GenerateError::NonFinite { count: 256, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("\"nan_sprite\" produced 256 non-finite values"),
        "{err}"
    );
}

#[test]
fn channels_last_and_byte_outputs_give_the_same_image_as_channels_first() {
    let request = ImageRequest {
        seed: 3,
        size: None,
        class: None,
    };
    let images: Vec<image::DynamicImage> = ["nchw", "nhwc", "nhwc_u8"]
        .into_iter()
        .map(|name| {
            generator_in("layouts", name)
                .generate(&request)
                .unwrap_or_else(|err| panic!("{name}: {err}"))
        })
        .collect();
    // 4 wide, 6 high: a height/width mix-up would show in the size.
    assert_eq!(images[0].dimensions(), (4, 6));
    let colours: std::collections::HashSet<&[u8]> = images[0].as_bytes().chunks_exact(3).collect();
    assert!(colours.len() > 12, "a real image, not one colour");
    assert_eq!(images[1].as_bytes(), images[0].as_bytes(), "NHWC F32");
    assert_eq!(images[2].as_bytes(), images[0].as_bytes(), "NHWC U8");
}

#[test]
fn a_batch_gives_the_pixels_of_one_run_per_image() {
    // The fixtures, then the shipped models (`models/` at the repository root), whose larger
    // convolutions are where batch-dependent kernels would show.
    for (folder, name, size, class) in [
        ("models", "tiny_texture", Some((32, 16)), Some("moss")),
        ("models", "tiny_sprite", None, None),
        ("layouts", "nhwc", None, None),
        (
            "../../models",
            "kiln_textures",
            Some((64, 48)),
            Some("brick_wall"),
        ),
        ("../../models", "kiln_sprites", None, Some("portrait")),
    ] {
        let generator = generator_in(folder, name);
        let class = class.map(str::to_owned);
        let requests: Vec<ImageRequest> = (0..5)
            .map(|seed| ImageRequest {
                seed,
                size,
                class: class.clone(),
            })
            .collect();
        let batched = generator.generate_batch(size, &requests).expect("batch");
        assert_eq!(batched.len(), 5);
        for (request, image) in requests.iter().zip(&batched) {
            let alone = generator.generate(request).expect("one");
            assert_eq!(
                image.as_bytes(),
                alone.as_bytes(),
                "{name} seed {}",
                request.seed
            );
        }
        assert_ne!(
            batched[0].as_bytes(),
            batched[1].as_bytes(),
            "{name}: seeds differ"
        );
    }
}

#[test]
fn batches_are_bounded_by_pixels() {
    let texture = generator("tiny_texture");
    assert_eq!(texture.batch_size(Some((64, 64))), 64);
    assert_eq!(texture.batch_size(Some((256, 256))), 16);
    assert_eq!(texture.batch_size(Some((512, 512))), 4);
    assert_eq!(texture.batch_size(Some((4096, 4096))), 1);
    assert_eq!(generator("tiny_sprite").batch_size(None), 64);
}
