//! WAV output: 16-bit PCM written with hound, plus a `smpl` chunk whose loop covers the file.

use std::io::Cursor;

/// Encodes mono `samples` as a 16-bit WAV whose `smpl` chunk loops from the first sample to
/// the last, forward, forever (read by samplers, game audio middleware and DAWs).
pub fn encode(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec)
            .unwrap_or_else(|err| unreachable!("writing a WAV header to memory: {err}"));
        for &sample in samples {
            let value = (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
            writer
                .write_sample(value)
                .unwrap_or_else(|err| unreachable!("writing to memory: {err}"));
        }
        writer
            .finalize()
            .unwrap_or_else(|err| unreachable!("finishing a WAV in memory: {err}"));
    }
    let mut bytes = bytes.into_inner();
    bytes.extend(smpl_chunk(samples.len(), sample_rate));
    let riff_size = (bytes.len() - 8) as u32;
    bytes[4..8].copy_from_slice(&riff_size.to_le_bytes());
    bytes
}

/// The `smpl` chunk: one forward loop over samples `0..=len-1`, played forever.
fn smpl_chunk(len: usize, sample_rate: u32) -> Vec<u8> {
    let fields: [u32; 15] = [
        0,                            // manufacturer
        0,                            // product
        1_000_000_000 / sample_rate,  // sample period, ns
        60,                           // MIDI unity note
        0,                            // pitch fraction
        0,                            // SMPTE format
        0,                            // SMPTE offset
        1,                            // number of loops
        0,                            // sampler data bytes
        0,                            // loop: cue point id
        0,                            // loop: type (forward)
        0,                            // loop: first sample
        len.saturating_sub(1) as u32, // loop: last sample (inclusive)
        0,                            // loop: fraction
        0,                            // loop: play count (0 = forever)
    ];
    let mut chunk = b"smpl".to_vec();
    chunk.extend((fields.len() as u32 * 4).to_le_bytes());
    for field in fields {
        chunk.extend(field.to_le_bytes());
    }
    chunk
}

/// The loop `(first, last)` sample of a WAV's `smpl` chunk, if it has one.
pub fn loop_points(wav: &[u8]) -> Option<(u32, u32)> {
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let size = u32::from_le_bytes(wav[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"smpl" {
            let field = |n: usize| {
                let start = at + 8 + 4 * n;
                Some(u32::from_le_bytes(
                    wav.get(start..start + 4)?.try_into().ok()?,
                ))
            };
            return Some((field(11)?, field(12)?));
        }
        at += 8 + size + size % 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smpl_chunk_loops_the_whole_file_and_hound_still_reads_it() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 / 50.0).sin() * 0.5).collect();
        let wav = encode(&samples, 44_100);
        assert_eq!(loop_points(&wav), Some((0, 999)));
        let reader = hound::WavReader::new(Cursor::new(&wav)).expect("valid WAV");
        assert_eq!(reader.len(), 1000);
        assert_eq!(
            u32::from_le_bytes(wav[4..8].try_into().expect("4 bytes")) as usize,
            wav.len() - 8
        );
    }
}
