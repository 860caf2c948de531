//! Plain completion through the real ONNX Runtime: at temperature 0 Kiln decodes exactly as
//! onnxruntime + tokenizers do in Python (`tests/fixtures/decoders/greedy_reference.py`), for
//! optimum-style exports with a KV cache, merged with `use_cache_branch`, without a cache, and
//! the shipped `kiln_flavour`.

use std::path::Path;

use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::{Bounded, CompletionParams, ModelManifest, Sampling};
use kiln_seq::{SequenceModel, complete, complete_each};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn model(folder: &str) -> SequenceModel {
    let path = Path::new(REPO).join(folder).join("model.ron");
    let manifest = ModelManifest::load(&path).expect("manifest");
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    let session = sessions.load_model(&manifest, &path).expect("session");
    SequenceModel::new(&manifest, &path, session).expect("sequence model")
}

fn greedy(prompt: &str, max_tokens: u32, stop: &[&str]) -> CompletionParams {
    CompletionParams {
        prompt: prompt.to_owned(),
        stop: stop.iter().map(|s| (*s).to_owned()).collect(),
        sampling: Sampling {
            temperature: 0.0,
            repetition_penalty: 1.0,
            max_tokens: Bounded::new(max_tokens).expect("max_tokens"),
            ..Sampling::default()
        },
    }
}

#[test]
fn greedy_token_ids_equal_onnxruntime_in_python() {
    let path = Path::new(REPO).join("tests/fixtures/decoders/greedy_reference.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("json");
    assert!(cases.len() >= 4);
    for case in cases {
        let folder = case["model"].as_str().expect("model");
        let prompt = case["prompt"].as_str().expect("prompt");
        let max_tokens = case["max_tokens"].as_u64().expect("max_tokens") as u32;
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        let completion =
            complete(&model(folder), &greedy(prompt, max_tokens, &[]), 0).expect("complete");
        assert_eq!(completion.tokens, expected, "{folder} {prompt:?}");
    }
}

#[test]
fn a_stop_text_ends_the_continuation_and_is_left_out() {
    let model = model("tests/fixtures/decoders/tiny_decoder_past");
    let whole = complete(&model, &greedy("the old sword", 6, &[]), 0).expect("complete");
    assert_eq!(whole.text, "in softly old softly old softly");
    let stopped = complete(&model, &greedy("the old sword", 6, &["old", "in"]), 0).expect("stop");
    assert_eq!(stopped.text, "", "the earliest stop text wins");
    let stopped = complete(&model, &greedy("the old sword", 6, &[" old"]), 0).expect("stop");
    assert_eq!(stopped.text, "in softly");
    assert_eq!(
        stopped.tokens.len(),
        3,
        "no token generated after the stop text"
    );
}

#[test]
fn sampling_draws_reproducibly_from_the_seed() {
    let model = model("models/kiln_flavour");
    let params = CompletionParams {
        sampling: Sampling {
            temperature: 1.0,
            max_tokens: Bounded::new(16).expect("max_tokens"),
            ..Sampling::default()
        },
        ..greedy("<ring>", 16, &[])
    };
    let first = complete(&model, &params, 5).expect("complete");
    assert_eq!(first, complete(&model, &params, 5).expect("again"));
    assert_ne!(
        first.tokens,
        complete(&model, &params, 6).expect("other seed").tokens
    );
}

#[test]
fn continuations_made_side_by_side_equal_those_made_one_by_one() {
    let seeds: Vec<u64> = (0..7).collect();
    for folder in [
        "tests/fixtures/decoders/tiny_decoder_past",
        "tests/fixtures/decoders/tiny_decoder_merged",
        "tests/fixtures/decoders/tiny_decoder_nocache",
        "models/kiln_flavour",
    ] {
        let model = model(folder);
        let prompt = if folder.starts_with("models") {
            "<ring>"
        } else {
            "the old sword"
        };
        // Sampled, with a stop text: rows end at different steps.
        let params = CompletionParams {
            sampling: Sampling {
                temperature: 1.0,
                max_tokens: Bounded::new(24).expect("max_tokens"),
                ..Sampling::default()
            },
            ..greedy(prompt, 24, &["."])
        };
        let side_by_side = complete_each(&model, &params, &seeds).expect("side by side");
        let one_by_one: Vec<_> = seeds
            .iter()
            .map(|&seed| complete(&model, &params, seed).expect("one"))
            .collect();
        assert_eq!(side_by_side, one_by_one, "{folder}");
        let lengths: std::collections::BTreeSet<usize> =
            one_by_one.iter().map(|c| c.tokens.len()).collect();
        assert!(
            lengths.len() > 1,
            "{folder}: rows of one length test less: {lengths:?}"
        );
    }
}
