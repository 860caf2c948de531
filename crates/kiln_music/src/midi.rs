//! The same loop as a Standard MIDI File (format 1), for designers who take it into a DAW.

use kiln_recipe::Instrument;
use midly::num::{u4, u7, u15, u24, u28};
use midly::{
    Format, Header, MetaMessage, MidiMessage, Smf, Timing, Track, TrackEvent, TrackEventKind,
};

use crate::arrange::Arrangement;

/// MIDI ticks per quarter note (120 per sixteenth-note step).
const TICKS_PER_QUARTER: u16 = 480;
const TICKS_PER_STEP: u32 = TICKS_PER_QUARTER as u32 / 4;

/// General MIDI program closest to each instrument.
fn program(instrument: Instrument) -> u8 {
    match instrument {
        Instrument::Sine => 74,     // recorder
        Instrument::Triangle => 73, // flute
        Instrument::Square => 80,   // lead 1 (square)
        Instrument::Saw => 81,      // lead 2 (sawtooth)
        Instrument::Organ => 16,    // drawbar organ
    }
}

/// Encodes the arrangement: a tempo track, then one track per part (drums on channel 10).
/// Notes that run past the loop's end are cut there (a DAW loops the region).
pub fn encode(arrangement: &Arrangement, tempo: u32) -> Vec<u8> {
    let end = arrangement.steps * TICKS_PER_STEP;
    let mut tracks: Vec<Track<'static>> = Vec::new();
    let microseconds = 60_000_000 / tempo.max(1);
    tracks.push(vec![
        meta(0, MetaMessage::Tempo(u24::new(microseconds))),
        meta(0, MetaMessage::TimeSignature(4, 2, 24, 8)),
        meta(end, MetaMessage::EndOfTrack),
    ]);
    let mut melodic_channel = 0;
    for part in &arrangement.parts {
        let channel = match part.instrument {
            Some(_) => {
                let channel = melodic_channel;
                melodic_channel += 1;
                channel
            }
            None => 9,
        };
        let mut events: Vec<(u32, TrackEventKind<'static>)> = Vec::new();
        if let Some(instrument) = part.instrument {
            events.push((
                0,
                message(
                    channel,
                    MidiMessage::ProgramChange {
                        program: u7::new(program(instrument)),
                    },
                ),
            ));
        }
        for note in &part.notes {
            let on = note.step * TICKS_PER_STEP;
            let off = ((note.step + note.length) * TICKS_PER_STEP).min(end);
            let key = u7::new(note.key.min(127));
            events.push((
                on,
                message(
                    channel,
                    MidiMessage::NoteOn {
                        key,
                        vel: u7::new(note.velocity.min(127)),
                    },
                ),
            ));
            events.push((
                off,
                message(
                    channel,
                    MidiMessage::NoteOff {
                        key,
                        vel: u7::new(0),
                    },
                ),
            ));
        }
        // Offs before ons at the same tick, so repeated notes retrigger.
        events.sort_by_key(|(tick, kind)| {
            (
                *tick,
                !matches!(
                    kind,
                    TrackEventKind::Midi {
                        message: MidiMessage::NoteOff { .. },
                        ..
                    }
                ),
            )
        });
        let mut track = vec![meta(0, MetaMessage::TrackName(part.name.as_bytes()))];
        let mut last = 0;
        for (tick, kind) in events {
            track.push(TrackEvent {
                delta: u28::new(tick - last),
                kind,
            });
            last = tick;
        }
        track.push(meta(end - last, MetaMessage::EndOfTrack));
        tracks.push(track);
    }
    let smf = Smf {
        header: Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
        ),
        tracks,
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .unwrap_or_else(|err| unreachable!("writing MIDI to memory: {err}"));
    bytes
}

fn meta(delta: u32, message: MetaMessage<'static>) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(message),
    }
}

fn message(channel: u8, message: MidiMessage) -> TrackEventKind<'static> {
    TrackEventKind::Midi {
        channel: u4::new(channel),
        message,
    }
}
