//! From a melody to parts in a key: chords that fit the melody, a bass line, drums.

use kiln_recipe::{Instrument, Mode, MusicParams};

use crate::STEPS_PER_BAR;
use crate::melody::Melody;

/// Steps each chord lasts (half a bar).
const CHORD_STEPS: u32 = 8;

/// One note of a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    /// Start, in sixteenth-note steps from the loop's start.
    pub step: u32,
    /// Length in steps (it may run past the loop's end: it wraps to the start).
    pub length: u32,
    /// MIDI note number.
    pub key: u8,
    /// 0..=127.
    pub velocity: u8,
}

/// A part: what plays it and its notes.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// Part name (`lead`, `bass`, `chords`, `drums`).
    pub name: &'static str,
    /// Its sound; `None` for drums.
    pub instrument: Option<Instrument>,
    /// The notes; for drums, General MIDI percussion keys (36 kick, 38 snare, 42 hat).
    pub notes: Vec<Note>,
}

/// Every part of a loop.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrangement {
    /// Total steps (bars × 16).
    pub steps: u32,
    /// Melody, bass, chords (if any), drums (if any).
    pub parts: Vec<Part>,
    /// Chord roots, one per half bar, as semitones above the tonic (for the manifest).
    pub chords: Vec<i32>,
}

/// General MIDI drum keys.
pub const KICK: u8 = 36;
/// Snare.
pub const SNARE: u8 = 38;
/// Closed hi-hat.
pub const HAT: u8 = 42;

/// The pitch class (C = 0) of a note name such as `C`, `F#`, `Bb`.
pub fn parse_key(name: &str) -> Option<i32> {
    let mut chars = name.trim().chars();
    let base: i32 = match chars.next()?.to_ascii_uppercase() {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let accidental = match chars.as_str() {
        "" => 0,
        "#" | "♯" => 1,
        "b" | "♭" => -1,
        _ => return None,
    };
    Some((base + accidental).rem_euclid(12))
}

fn scale(mode: Mode) -> [i32; 7] {
    match mode {
        Mode::Major => [0, 2, 4, 5, 7, 9, 11],
        Mode::Minor => [0, 2, 3, 5, 7, 8, 10],
    }
}

/// The diatonic triads that can harmonise a melody (no diminished ones), as the scale
/// degrees of their roots, most idiomatic first (ties go to the earlier one).
fn chord_degrees(mode: Mode) -> &'static [usize] {
    match mode {
        Mode::Major => &[0, 4, 3, 5, 1, 2], // I V IV vi ii iii
        Mode::Minor => &[0, 4, 3, 5, 6, 2], // i v iv VI VII III
    }
}

/// Pitch classes (relative to the tonic) of the triad on `degree`.
fn triad(mode: Mode, degree: usize) -> [i32; 3] {
    let scale = scale(mode);
    [0, 2, 4].map(|third| {
        let index = degree + third;
        scale[index % 7] + 12 * (index / 7) as i32
    })
}

/// Chooses one chord per half bar: the triad whose tones cover most of the melody sounding
/// there (weighted by duration, root counting most), preferring the primary triads (I, IV, V)
/// and keeping the previous chord.
pub fn harmonise(melody: &Melody, mode: Mode) -> Vec<usize> {
    let steps = melody.steps.len() as u32;
    let mut sounding: Vec<Option<i32>> = vec![None; steps as usize];
    for (start, length, pitch) in melody.notes() {
        for offset in 0..length {
            sounding[((start + offset) % steps) as usize] = Some(pitch);
        }
    }
    let mut chosen = Vec::new();
    for window in sounding.chunks(CHORD_STEPS as usize) {
        let score = |degree: usize| {
            let tones = triad(mode, degree).map(|t| t.rem_euclid(12));
            let mut score = 0.0;
            for pitch in window.iter().flatten() {
                let pc = pitch.rem_euclid(12);
                if pc == tones[0] {
                    score += 1.25;
                } else if tones.contains(&pc) {
                    score += 1.0;
                } else {
                    score -= 0.5;
                }
            }
            if chosen.last() == Some(&degree) {
                score += 0.75;
            }
            if [0, 3, 4].contains(&degree) {
                score += 1.0; // the primary triads carry a tune's harmony
            }
            score
        };
        let best = chord_degrees(mode)
            .iter()
            .copied()
            .fold((0, f64::MIN), |(best, best_score), degree| {
                let s = score(degree);
                if s > best_score {
                    (degree, s)
                } else {
                    (best, best_score)
                }
            })
            .0;
        chosen.push(best);
    }
    chosen
}

/// Builds every part in the key of `tonic` (pitch class): the melody around C5, chord roots
/// in the bass around C2/C3, triads around C4, and drums.
pub fn arrange(melody: &Melody, tonic: i32, params: &MusicParams) -> Arrangement {
    let mode = params.mode;
    let steps = melody.steps.len() as u32;
    let lead_base = 60 + tonic; // the tonic from C4 up to B4; the model's notes go ±2 octaves
    let key = |base: i32, semitones: i32| (base + semitones).clamp(0, 127) as u8;
    let lead = melody
        .notes()
        .into_iter()
        .map(|(step, length, pitch)| Note {
            step,
            length,
            key: key(lead_base, pitch),
            velocity: if step.is_multiple_of(4) { 100 } else { 84 },
        })
        .collect();

    let degrees = harmonise(melody, mode);
    let bass_base = 36 + tonic; // C2..B2
    let chord_base = 48 + tonic; // C3..B3
    let mut bass = Vec::new();
    let mut chords = Vec::new();
    for (index, &degree) in degrees.iter().enumerate() {
        let start = index as u32 * CHORD_STEPS;
        let [root, third, fifth] = triad(mode, degree);
        bass.push(Note {
            step: start,
            length: 3,
            key: key(bass_base, root),
            velocity: 110,
        });
        bass.push(Note {
            step: start + 4,
            length: 3,
            key: key(bass_base, fifth),
            velocity: 90,
        });
        for tone in [root, third, fifth] {
            chords.push(Note {
                step: start,
                length: CHORD_STEPS,
                key: key(chord_base, tone),
                velocity: 60,
            });
        }
    }

    let mut parts = vec![
        Part {
            name: "lead",
            instrument: Some(params.instruments.lead),
            notes: lead,
        },
        Part {
            name: "bass",
            instrument: Some(params.instruments.bass),
            notes: bass,
        },
    ];
    if let Some(instrument) = params.instruments.chords {
        parts.push(Part {
            name: "chords",
            instrument: Some(instrument),
            notes: chords,
        });
    }
    if params.drums {
        let drums = (0..steps)
            .flat_map(|step| {
                let beat = step % STEPS_PER_BAR;
                let hit = |key, velocity| Note {
                    step,
                    length: 1,
                    key,
                    velocity,
                };
                let mut hits = Vec::new();
                if beat == 0 || beat == 8 || beat == 10 {
                    hits.push(hit(KICK, if beat == 10 { 90 } else { 120 }));
                }
                if beat == 4 || beat == 12 {
                    hits.push(hit(SNARE, 110));
                }
                if beat.is_multiple_of(2) {
                    hits.push(hit(HAT, if beat.is_multiple_of(4) { 80 } else { 60 }));
                }
                hits
            })
            .collect();
        parts.push(Part {
            name: "drums",
            instrument: None,
            notes: drums,
        });
    }
    Arrangement {
        steps,
        parts,
        chords: degrees.iter().map(|&d| triad(mode, d)[0]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::melody::Step;

    #[test]
    fn key_names_parse_with_accidentals() {
        assert_eq!(parse_key("C"), Some(0));
        assert_eq!(parse_key("F#"), Some(6));
        assert_eq!(parse_key("Bb"), Some(10));
        assert_eq!(parse_key("cb"), Some(11));
        assert_eq!(parse_key("H"), None);
        assert_eq!(parse_key("C##"), None);
    }

    #[test]
    fn chords_follow_the_melody() {
        // Bar 1 outlines C E G (I), bar 2 G B D (V) in C major.
        let mut steps = vec![Step::Hold; 32];
        for (at, pitch) in [
            (0, 0),
            (4, 4),
            (8, 7),
            (12, 4),
            (16, 7),
            (20, 11),
            (24, 14),
            (28, 11),
        ] {
            steps[at] = Step::Note(pitch);
        }
        let degrees = harmonise(&Melody { steps }, Mode::Major);
        assert_eq!(degrees, vec![0, 0, 4, 4]);
        assert_eq!(triad(Mode::Minor, 0), [0, 3, 7]);
        assert_eq!(triad(Mode::Major, 4), [7, 11, 14]);
    }
}
