//! Kiln's music loops.
//!
//! A melody comes from a sequence generator ([`melody`]), bars of sixteenth-note steps in
//! semitones from the tonic. [`arrange`] derives chords (diatonic triads that fit the melody),
//! a bass line and an optional drum pattern, in the recipe's key. [`synth`] renders it with
//! fundsp so the loop is seamless: every note's release tail that runs past the end is added
//! at the start, and the length is exactly the bars at the tempo. [`wav`] writes it with hound
//! plus a `smpl` chunk holding the loop points; [`midi`] writes the same loop as MIDI.

pub mod arrange;
pub mod melody;
pub mod midi;
pub mod synth;
pub mod wav;

use kiln_recipe::MusicParams;
use kiln_seq::{SequenceError, SequenceModel};
use rayon::prelude::*;

pub use arrange::{Arrangement, Note, Part};
pub use melody::{Melody, generate_melodies, generate_melody};

/// Steps (sixteenth notes) per 4/4 bar.
pub const STEPS_PER_BAR: u32 = 16;

/// Why a loop could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MusicError {
    /// The melody model failed.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// The recipe's key is not a note name.
    #[error("key {0:?} is not a note name: use C, C#, Db, D, ... B")]
    Key(String),
    /// The model does not produce the melody tokens Kiln reads.
    #[error("model {model:?}: {message}")]
    Tokens {
        /// Model name.
        model: String,
        /// What is wrong.
        message: String,
    },
}

/// A rendered loop with its files.
#[derive(Clone, Debug)]
pub struct MusicLoop {
    /// The arrangement that was rendered.
    pub arrangement: Arrangement,
    /// Mono samples in -1..1, exactly one loop long.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
    /// The WAV file (16-bit PCM, `smpl` chunk looping the whole file).
    pub wav: Vec<u8>,
    /// The MIDI file (format 1: tempo, melody, bass, chords, drums).
    pub midi: Vec<u8>,
}

/// Sample rate of rendered loops.
pub const SAMPLE_RATE: u32 = 44_100;

/// Samples in one loop of `bars` 4/4 bars at `tempo` beats per minute (rounded to the
/// nearest sample when the tempo does not divide evenly).
pub fn loop_samples(bars: u32, tempo: u32, sample_rate: u32) -> usize {
    let exact = f64::from(bars) * 4.0 * 60.0 * f64::from(sample_rate) / f64::from(tempo);
    exact.round() as usize
}

/// Generates a melody with `model`, arranges and renders it.
pub fn make_loop(
    model: &SequenceModel,
    params: &MusicParams,
    seed: u64,
) -> Result<MusicLoop, MusicError> {
    let tonic = tonic(params)?;
    Ok(render_loop(
        &generate_melody(model, params, seed)?,
        tonic,
        params,
    ))
}

fn tonic(params: &MusicParams) -> Result<i32, MusicError> {
    arrange::parse_key(&params.key).ok_or_else(|| MusicError::Key(params.key.clone()))
}

/// [`make_loop`] for each seed: the melodies are generated side by side
/// ([`generate_melodies`]), then arranged, synthesised and encoded on rayon's thread pool.
/// Loops come back in seed order.
pub fn make_loops(
    model: &SequenceModel,
    params: &MusicParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<Vec<MusicLoop>, MusicError> {
    let tonic = tonic(params)?;
    let seeds: Vec<u64> = seeds.into_iter().collect();
    let melodies = generate_melodies(model, params, &seeds)?;
    Ok(melodies
        .par_iter()
        .map(|melody| render_loop(melody, tonic, params))
        .collect())
}

/// Arranges, synthesises and encodes one melody.
fn render_loop(melody: &Melody, tonic: i32, params: &MusicParams) -> MusicLoop {
    let arrangement = arrange::arrange(melody, tonic, params);
    let samples = synth::render(&arrangement, params.tempo.get(), SAMPLE_RATE);
    let wav = wav::encode(&samples, SAMPLE_RATE);
    let midi = midi::encode(&arrangement, params.tempo.get());
    MusicLoop {
        arrangement,
        samples,
        sample_rate: SAMPLE_RATE,
        wav,
        midi,
    }
}
