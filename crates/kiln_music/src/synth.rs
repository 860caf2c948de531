//! Rendering an arrangement with fundsp into one seamless loop.

use std::collections::HashMap;

use fundsp::prelude as dsp;
use fundsp::prelude::AudioUnit;
use kiln_recipe::Instrument;

use crate::arrange::{Arrangement, HAT, KICK, SNARE};
use crate::loop_samples;

/// Release after a note ends, in seconds.
const RELEASE: f64 = 0.12;
/// Attack of every note, in seconds (long enough not to click).
const ATTACK: f64 = 0.005;
/// Peak level of the mix (about -1 dBFS).
const PEAK: f32 = 0.89;

/// Renders every part into exactly one loop of samples (mono, -1..1). Sound that runs past
/// the end (release tails, notes held over the bar line) is added at the start, so playing the
/// loop end to start continues every note as it would have continued.
pub fn render(arrangement: &Arrangement, tempo: u32, sample_rate: u32) -> Vec<f32> {
    let bars = arrangement.steps / crate::STEPS_PER_BAR;
    let total = loop_samples(bars, tempo, sample_rate);
    let step_samples = total as f64 / f64::from(arrangement.steps);
    let mut mix = vec![0.0_f32; total];
    // A note's sound depends only on its instrument (or drum), key and length: each distinct
    // one is rendered once (a loop repeats its drum hits, chords and many melody notes).
    let mut sounds: HashMap<(Option<Instrument>, u8, u32), Vec<f32>> = HashMap::new();
    for part in &arrangement.parts {
        let gain = match part.name {
            "lead" => 0.30,
            "bass" => 0.32,
            "chords" => 0.10,
            _ => 0.35,
        };
        for note in &part.notes {
            let start = (f64::from(note.step) * step_samples).round() as usize;
            let held = f64::from(note.length) * step_samples / f64::from(sample_rate);
            let velocity = f32::from(note.velocity) / 127.0;
            let sound = sounds
                .entry((part.instrument, note.key, note.length))
                .or_insert_with(|| match part.instrument {
                    Some(instrument) => tone(instrument, note.key, held, sample_rate),
                    None => drum(note.key, sample_rate),
                });
            for (offset, &sample) in sound.iter().enumerate() {
                mix[(start + offset) % total] += sample * velocity * gain;
            }
        }
    }
    let peak = mix.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
    if peak > 0.0 {
        let scale = PEAK / peak;
        mix.iter_mut().for_each(|s| *s *= scale);
    }
    mix
}

/// Frequency of a MIDI note (A4 = 440 Hz).
fn frequency(key: u8) -> f32 {
    440.0 * 2.0_f32.powf((f32::from(key) - 69.0) / 12.0)
}

/// The instrument's oscillator (and filter) at `hz`, from fundsp.
fn voice(instrument: Instrument, hz: f32) -> Box<dyn AudioUnit> {
    use dsp::{lowpass_hz, organ_hz, saw_hz, sine_hz, square_hz, triangle_hz};
    match instrument {
        Instrument::Sine => Box::new(sine_hz::<f32>(hz)),
        Instrument::Triangle => Box::new(triangle_hz(hz)),
        Instrument::Square => Box::new(square_hz(hz) >> lowpass_hz(3500.0_f32, 0.7)),
        Instrument::Saw => Box::new(saw_hz(hz) >> lowpass_hz(2200.0_f32, 0.9)),
        Instrument::Organ => Box::new(organ_hz(hz)),
    }
}

/// A pitched note of MIDI `key`: the voice under an attack / sustain / release envelope,
/// `held` seconds plus its release.
fn tone(instrument: Instrument, key: u8, held: f64, sample_rate: u32) -> Vec<f32> {
    let mut unit = voice(instrument, frequency(key));
    unit.set_sample_rate(f64::from(sample_rate));
    let rate = f64::from(sample_rate);
    let length = ((held + RELEASE) * rate) as usize;
    shaped(unit.as_mut(), length, |i| {
        let t = i as f64 / rate;
        if t < ATTACK {
            t / ATTACK
        } else if t < held {
            1.0 - 0.25 * ((t - ATTACK) / held.max(ATTACK)).min(1.0)
        } else {
            0.75 * (1.0 - (t - held) / RELEASE).max(0.0)
        }
    })
}

/// `length` samples of `unit` (no inputs, one output), sample `i` scaled by `envelope(i)`.
/// Rendered a block of 64 at a time: fundsp's block path is vectorised, where a sample at a
/// time costs a virtual call through every node.
fn shaped(unit: &mut dyn AudioUnit, length: usize, envelope: impl Fn(usize) -> f64) -> Vec<f32> {
    let mut samples = Vec::with_capacity(length);
    let mut block = dsp::BufferArray::<dsp::U1>::new();
    while samples.len() < length {
        let size = (length - samples.len()).min(dsp::MAX_BUFFER_SIZE);
        unit.process(size, &dsp::BufferRef::empty(), &mut block.buffer_mut());
        let start = samples.len();
        samples.extend(
            block.channel_f32(0)[..size]
                .iter()
                .enumerate()
                .map(|(i, &sample)| sample * envelope(start + i) as f32),
        );
    }
    samples
}

/// A drum hit (General MIDI key): kick = swept sine, snare = band-passed noise and body,
/// hat = high-passed noise.
fn drum(key: u8, sample_rate: u32) -> Vec<f32> {
    use dsp::{bandpass_hz, envelope, highpass_hz, noise, sine};
    let rate = f64::from(sample_rate);
    let (seconds, mut unit, decay): (f64, Box<dyn AudioUnit>, f64) = match key {
        KICK => (
            0.25,
            Box::new(envelope(|t: f32| 45.0 + 110.0 * (-t * 30.0).exp()) >> sine::<f32>()),
            12.0,
        ),
        SNARE => (
            0.18,
            Box::new(noise() >> bandpass_hz(1800.0_f32, 0.8)),
            22.0,
        ),
        HAT => (
            0.05,
            Box::new(noise() >> highpass_hz(7000.0_f32, 0.7)),
            70.0,
        ),
        _ => (0.0, Box::new(dsp::zero()), 1.0),
    };
    unit.set_sample_rate(rate);
    shaped(unit.as_mut(), (seconds * rate) as usize, |i| {
        let t = i as f64 / rate;
        (t / ATTACK).min(1.0) * (-t * decay).exp()
    })
}

/// How the jump from the last sample to the first compares with the loop's ordinary
/// sample-to-sample changes: `|x[0] - x[n-1]|` over the 99th percentile of `|x[i+1] - x[i]|`.
/// At or below 1 the seam is no larger than a normal step of the waveform (no click).
pub fn seam_jump(samples: &[f32]) -> f64 {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return 0.0;
    };
    let mut steps: Vec<f32> = samples.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    // The 99th percentile: the element a full sort would put there, found without sorting.
    let at = steps.len() * 99 / 100;
    let typical = match at < steps.len() {
        true => *steps.select_nth_unstable_by(at, f32::total_cmp).1,
        false => 0.0,
    };
    if typical == 0.0 {
        return if first == last { 0.0 } else { f64::INFINITY };
    }
    f64::from((first - last).abs() / typical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seam_jump_is_measured_against_the_99th_percentile_step() {
        // A pseudo-random walk: its steps' 99th percentile taken by sorting them all.
        let mut state = 12_345_u32;
        let samples: Vec<f32> = (0..10_001)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect();
        let mut steps: Vec<f32> = samples.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        steps.sort_by(f32::total_cmp);
        let typical = steps[steps.len() * 99 / 100];
        let expected = f64::from((samples[0] - samples[10_000]).abs() / typical);
        assert_eq!(seam_jump(&samples), expected);
        assert_eq!(seam_jump(&[0.5]), 0.0, "one sample: no step, no jump");
        assert_eq!(seam_jump(&[]), 0.0);
    }

    #[test]
    fn a_note_sounds_the_same_each_time_it_is_rendered() {
        // What `render` relies on to render each distinct note once: no voice keeps random
        // state (a phase, a noise seed) from one fresh unit to the next.
        let instruments = [
            Instrument::Sine,
            Instrument::Triangle,
            Instrument::Square,
            Instrument::Saw,
            Instrument::Organ,
        ];
        for instrument in instruments {
            let first = tone(instrument, 62, 0.3, 22_050);
            assert!(
                first.iter().any(|s| s.abs() > 0.1),
                "{instrument:?} is silent"
            );
            assert_eq!(first, tone(instrument, 62, 0.3, 22_050), "{instrument:?}");
        }
        for key in [KICK, SNARE, HAT] {
            let first = drum(key, 22_050);
            assert!(first.iter().any(|s| s.abs() > 0.01), "drum {key} is silent");
            assert_eq!(first, drum(key, 22_050), "drum {key}");
        }
    }
}
