//! Generator benchmark: time per 256×256 texture and per 64-sprite sheet on this machine, with
//! the pipeline's own overhead (everything but `session.run`) reported separately.
//!
//!     cargo bench -p kiln_gen --bench generators [-- --ep cuda]
//!
//! Uses the shipped models in `models/` (with their art palettes) and the ONNX Runtime Kiln
//! finds (see README). Ends
//! with a batch-size sweep: time per image when 64 variants run in batches of 1 to 64.

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_gen::{ImageGenerator, ImageRequest, make_sprites, make_textures};
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::{Bounded, ModelManifest, Size, SpriteParams, TextureParams};

const ITERATIONS: u32 = 20;

fn main() {
    let cuda = std::env::args().any(|arg| arg == "cuda");
    let sessions = SessionCache::new(SessionOptions {
        policy: if cuda {
            ProviderPolicy::Cuda
        } else {
            ProviderPolicy::Cpu
        },
        intra_threads: None,
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    println!(
        "ONNX Runtime {} ({}), {} cores, {ITERATIONS} iterations after 1 warm-up\n",
        sessions.runtime().version(),
        if cuda { "cuda" } else { "cpu" },
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<34} {:>10} {:>12} {:>10} {:>9}",
        "case", "total ms", "session.run", "overhead", "overhead"
    );

    let textures = generator(&sessions, "kiln_textures");
    let params = TextureParams {
        size: Size(side(256), side(256)),
        class: Some("brick_wall".to_owned()),
        normal_map: false,
        scale: Bounded::new(1).expect("scale"),
        palette: None,
    };
    measure("texture 256x256", &textures, |seed| {
        make_textures(&textures, &params, [seed]).expect("texture");
    });
    // The class with the largest art palette (6,602 colours): the nearest-colour lookups' worst case.
    let marble = TextureParams {
        class: Some("marble".to_owned()),
        ..params.clone()
    };
    measure("texture 256x256 marble", &textures, |seed| {
        make_textures(&textures, &marble, [seed]).expect("texture");
    });
    let with_normals = TextureParams {
        normal_map: true,
        ..params.clone()
    };
    measure("texture 256x256 + normal map", &textures, |seed| {
        make_textures(&textures, &with_normals, [seed]).expect("texture");
    });
    // As the example recipes bake pixel art: 64x64 art pixels at 4x, 16 colours, normal map.
    let pixel_art = TextureParams {
        scale: Bounded::new(4).expect("scale"),
        palette: Some(Bounded::new(16).expect("palette")),
        ..with_normals.clone()
    };
    measure("texture 256x256 scale 4 + palette", &textures, |seed| {
        make_textures(&textures, &pixel_art, [seed]).expect("texture");
    });

    let sprites = generator(&sessions, "kiln_sprites");
    let sprite_params = SpriteParams {
        class: Some("portrait".to_owned()),
        palette: Bounded::new(12).expect("palette"),
        outline: Some((20, 16, 24)),
        scale: Bounded::new(2).expect("scale"),
        despeckle: true,
    };
    measure("sprite sheet, 64 sprites", &sprites, |seed| {
        make_sprites(&sprites, &sprite_params, seed * 64..seed * 64 + 64).expect("sprites");
    });

    println!("\nbatch-size sweep: 64 images per row, ms per image (session.run only in brackets)");
    print!("{:<34}", "batch");
    for batch in BATCHES {
        print!(" {batch:>13}");
    }
    println!();
    sweep(
        "texture 64x64 art (scale-4 256x256)",
        &textures,
        Some((64, 64)),
        "brick_wall",
    );
    sweep(
        "texture 256x256 art",
        &textures,
        Some((256, 256)),
        "brick_wall",
    );
    sweep("sprite 32x32", &sprites, None, "portrait");
}

const BATCHES: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Time per image for 64 images generated in batches of each size in [`BATCHES`].
fn sweep(label: &str, generator: &ImageGenerator, size: Option<(u32, u32)>, class: &str) {
    let requests: Vec<ImageRequest> = (0..64)
        .map(|seed| ImageRequest {
            seed,
            size,
            class: Some(class.to_owned()),
        })
        .collect();
    generator
        .generate_batch(size, &requests[..8])
        .expect("warm-up");
    print!("{label:<34}");
    for batch in BATCHES {
        let run_before = generator.run_time();
        let started = Instant::now();
        for chunk in requests.chunks(batch) {
            generator.generate_batch(size, chunk).expect("batch");
        }
        let per_image = started.elapsed() / 64;
        let inference = (generator.run_time() - run_before) / 64;
        print!(" {:>5.2} ({:>5.2})", ms(per_image), ms(inference));
    }
    println!();
}

fn side(pixels: u32) -> kiln_recipe::Side {
    Bounded::new(pixels).expect("side")
}

fn generator(sessions: &SessionCache, name: &str) -> ImageGenerator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
        .join("model.ron");
    let manifest = ModelManifest::load(&path).expect("shipped model manifest");
    ImageGenerator::new(
        &manifest,
        sessions.load_model(&manifest, &path).expect("session"),
    )
    .expect("image model")
    .with_palettes_beside(&path)
    .expect("art palettes")
}

fn measure(label: &str, generator: &ImageGenerator, mut run: impl FnMut(u64)) {
    run(0);
    let run_before = generator.run_time();
    let started = Instant::now();
    for seed in 1..=u64::from(ITERATIONS) {
        run(seed);
    }
    let total = started.elapsed() / ITERATIONS;
    let inference = (generator.run_time() - run_before) / ITERATIONS;
    let overhead = total.saturating_sub(inference);
    println!(
        "{label:<34} {:>10.2} {:>12.2} {:>10.2} {:>8.1}%",
        ms(total),
        ms(inference),
        ms(overhead),
        100.0 * overhead.as_secs_f64() / total.as_secs_f64()
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
