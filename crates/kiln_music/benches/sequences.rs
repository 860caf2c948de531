//! Sequence benchmark: text tokens per second with and without the KV cache, with the KV cache
//! and the model's lexicon (real words only, as text entries run), and the time to
//! make an 8-bar loop WAV, with the pipeline's own work (everything but `session.run`)
//! reported separately; then a batch-size sweep: rows generated side by side
//! (`SequenceModel::generate_rows`, one `session.run` per step for all of them); and a sheet
//! of 64 portraits drawn a 2×2 block per token by `kiln_portraits`, post-processing included.
//!
//!     cargo bench -p kiln_music --bench sequences
//!     cargo bench -p kiln_music --bench sequences -- portraits   # only the parts named: text,
//!                                                                # rows, music, portraits
//!
//! Uses the shipped models in `models/` and the ONNX Runtime Kiln finds (see README).

use std::path::Path;
use std::time::{Duration, Instant};

use image::RgbaImage;
use kiln_gen::finish_sprites;
use kiln_music::make_loop;
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::{Bounded, Instruments, Mode, ModelManifest, MusicParams, Sampling, SpriteParams};
use kiln_seq::{Decoding, Sampler, SequenceModel, draw_pixel_art};

const ITERATIONS: u32 = 10;

fn main() {
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: None,
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    println!(
        "ONNX Runtime {} (cpu), {} cores, {ITERATIONS} iterations after 1 warm-up\n",
        sessions.runtime().version(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let parts: [(&str, Part); 4] = [
        ("text", text_tokens),
        ("rows", rows_side_by_side),
        ("music", music_loop),
        ("portraits", portrait_sheet),
    ];
    for (name, part) in parts {
        if named.is_empty() || named.iter().any(|wanted| wanted == name) {
            part(&sessions);
        }
    }
}

/// One part of the benchmark, run over the shared sessions.
type Part = fn(&SessionCache);

/// Text tokens per second with and without the KV cache and the lexicon's word checks.
fn text_tokens(sessions: &SessionCache) {
    let flavour = model(sessions, "kiln_flavour");
    let prompt = flavour.prompt("weapon", None).expect("prompt");
    for tokens in [32, 128] {
        for (label, kv_cache, real_words) in [
            ("KV cache", true, false),
            ("KV + words", true, true),
            ("no cache", false, false),
        ] {
            let run_before = flavour.run_time();
            let started = Instant::now();
            let mut count = 0;
            for seed in 0..=u64::from(ITERATIONS) {
                let generated = flavour
                    .generate(
                        &prompt,
                        &mut Sampler::new(Sampling::default(), seed),
                        &Decoding {
                            kv_cache,
                            real_words,
                            ..Decoding::new(tokens)
                        },
                    )
                    .expect("generate");
                count += generated.tokens.len();
            }
            let elapsed = started.elapsed();
            let run = flavour.run_time() - run_before;
            println!(
                "text, {tokens:>3} tokens, {label:<11} {:>7.0} tokens/s  ({:.2} ms/token; session.run {:.2} ms, overhead {:.3} ms)",
                count as f64 / elapsed.as_secs_f64(),
                per(elapsed, count),
                per(run, count),
                per(elapsed.saturating_sub(run), count),
            );
        }
    }
}

/// Rows generated side by side, one `session.run` per step for all of them.
fn rows_side_by_side(sessions: &SessionCache) {
    println!();
    for (name, condition) in [("kiln_flavour", "weapon"), ("kiln_melody", "major")] {
        let model = model(sessions, name);
        let prompt = model.prompt(condition, None).expect("prompt");
        let decoding = Decoding::new(64);
        for rows in [1, 2, 4, 8, 16] {
            let prompts = vec![prompt.clone(); rows];
            let run_before = model.run_time();
            let started = Instant::now();
            let mut count = 0;
            for seed in 0..=u64::from(ITERATIONS) {
                let mut samplers: Vec<Sampler> = (0..rows as u64)
                    .map(|row| Sampler::new(Sampling::default(), seed * 100 + row))
                    .collect();
                let generated = model
                    .generate_rows(&prompts, &mut samplers, &decoding)
                    .expect("generate");
                count += generated.iter().map(|g| g.tokens.len()).sum::<usize>();
            }
            let elapsed = started.elapsed();
            let run = model.run_time() - run_before;
            println!(
                "{name}, {rows:>2} rows side by side, 64 tokens: {:>6.0} tokens/s  ({:.3} ms per row-token; session.run {:.3} ms)",
                count as f64 / elapsed.as_secs_f64(),
                per(elapsed, count),
                per(run, count),
            );
        }
    }
}

/// An 8-bar music loop, WAV and MIDI.
fn music_loop(sessions: &SessionCache) {
    let melody = model(sessions, "kiln_melody");
    let params = MusicParams {
        key: "D".to_owned(),
        mode: Mode::Major,
        tempo: Bounded::new(120).expect("tempo"),
        bars: Bounded::new(8).expect("bars"),
        instruments: Instruments::default(),
        drums: true,
        sampling: Sampling::default(),
    };
    make_loop(&melody, &params, 0).expect("warm-up");
    let run_before = melody.run_time();
    let started = Instant::now();
    for seed in 1..=u64::from(ITERATIONS) {
        make_loop(&melody, &params, seed).expect("loop");
    }
    let elapsed = started.elapsed() / ITERATIONS;
    let run = (melody.run_time() - run_before) / ITERATIONS;
    println!(
        "\nmusic, 8-bar loop at 120 bpm (16 s, drums): {:.1} ms total, session.run {:.1} ms, \
         overhead {:.1} ms (arrangement, fundsp synthesis, WAV and MIDI encoding)",
        ms(elapsed),
        ms(run),
        ms(elapsed.saturating_sub(run))
    );
}

/// A sheet of 64 portraits, as assets/characters.kiln.ron bakes its villagers.
fn portrait_sheet(sessions: &SessionCache) {
    let portraits = model(sessions, "kiln_portraits");
    let params = SpriteParams {
        class: Some("portrait".to_owned()),
        palette: Bounded::new(12).expect("palette"),
        outline: Some((24, 20, 28)),
        scale: Bounded::new(4).expect("scale"),
        despeckle: false,
    };
    // Returns the time spent after drawing: post-processing and the sheet.
    let sheet = |first: u64| {
        let seeds: Vec<u64> = (first..first + 64).collect();
        let drawn = draw_pixel_art(&portraits, params.class.as_deref(), &seeds).expect("portraits");
        let finishing = Instant::now();
        let images = drawn.into_iter().map(|art| {
            RgbaImage::from_raw(art.width, art.height, art.rgba).expect("width × height pixels")
        });
        finish_sprites(seeds.into_iter().zip(images).collect(), &params);
        finishing.elapsed()
    };
    sheet(0);
    let run_before = portraits.run_time();
    let started = Instant::now();
    let mut finishing = Duration::ZERO;
    for iteration in 1..=u64::from(ITERATIONS) {
        finishing += sheet(iteration * 64);
    }
    let elapsed = started.elapsed() / ITERATIONS;
    let run = (portraits.run_time() - run_before) / ITERATIONS;
    let finishing = finishing / ITERATIONS;
    println!(
        "\nportraits, a sheet of 64 (16×16 art, palette, outline, 4× upscale): {:.1} ms \
         total, session.run {:.1} ms, drawing's own {:.1} ms (feeds, logits, sampling), \
         post-processing and sheet {:.1} ms",
        ms(elapsed),
        ms(run),
        ms(elapsed.saturating_sub(run).saturating_sub(finishing)),
        ms(finishing)
    );
}

fn per(duration: Duration, count: usize) -> f64 {
    ms(duration) / count.max(1) as f64
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn model(sessions: &SessionCache, name: &str) -> SequenceModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
        .join("model.ron");
    let manifest = ModelManifest::load(&path).expect("shipped model manifest");
    let session = sessions.load_model(&manifest, &path).expect("session");
    SequenceModel::new(&manifest, &path, session).expect("sequence model")
}
