//! The shipped sequence generators (`kiln_flavour`, `kiln_melody`, `kiln_portraits`) through the
//! real ONNX Runtime: sampling, the KV cache, text limits, seamless loops and pixel art.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use kiln_music::{generate_melodies, generate_melody, loop_samples, make_loop, make_loops};
use kiln_onnx::{ProviderPolicy, SessionCache, SessionOptions};
use kiln_recipe::{
    Bounded, Instruments, Mode, ModelKind, ModelManifest, MusicParams, Sampling, SequenceContract,
    TextParams,
};
use kiln_seq::{Decoding, Sampler, SequenceError, SequenceModel, draw_pixel_art, make_flavour};

fn manifest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
        .join("model.ron")
}

fn model_at(path: &Path) -> Result<SequenceModel, SequenceError> {
    let manifest = ModelManifest::load(path).expect("manifest");
    model_with(&manifest, path)
}

fn model_with(manifest: &ModelManifest, path: &Path) -> Result<SequenceModel, SequenceError> {
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: Some(2),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    let session = sessions
        .load_model(manifest, path)
        .expect("model matches its manifest");
    SequenceModel::new(manifest, path, session)
}

/// `kiln_flavour` with its contract changed by `edit` (without a companion file, say).
fn flavour_with(edit: impl FnOnce(&mut SequenceContract)) -> SequenceModel {
    let path = manifest_path("kiln_flavour");
    let mut manifest = ModelManifest::load(&path).expect("manifest");
    let ModelKind::SequenceGenerator(contract) = &mut manifest.kind else {
        panic!("kiln_flavour is a sequence generator");
    };
    edit(contract);
    model_with(&manifest, &path).expect("kiln_flavour, its contract edited")
}

fn model(name: &str) -> SequenceModel {
    model_at(&manifest_path(name)).expect("sequence model")
}

fn text_params(kind: &str, name: Option<&str>, min: u32, max: u32) -> TextParams {
    TextParams {
        kind: kind.to_owned(),
        name: name.map(str::to_owned),
        min_words: Bounded::new(min).expect("min"),
        max_words: Bounded::new(max).expect("max"),
        candidates: Bounded::new(4).expect("candidates"),
        sampling: Sampling::default(),
    }
}

#[test]
fn flavour_text_is_reproducible_within_its_limits_and_ends_its_sentences() {
    let flavour = model("kiln_flavour");
    let kinds = flavour.contract().conditions.clone();
    assert!(kinds.len() >= 6, "{kinds:?}");
    for kind in &kinds {
        let params = text_params(kind, None, 5, 30);
        let texts: Vec<_> = (0..4)
            .map(|seed| make_flavour(&flavour, &params, seed).expect("text"))
            .collect();
        for text in &texts {
            let words = text.text.split_whitespace().count();
            assert!((5..=30).contains(&words), "{kind}: {words} words: {text:?}");
            assert!(text.text.ends_with(['.', '!', '?', '"', ')']), "{text:?}");
            assert!(!text.name.is_empty(), "{text:?}");
        }
        assert_eq!(
            make_flavour(&flavour, &params, 2).expect("again"),
            texts[2],
            "same seed, same text"
        );
        assert!(
            texts.windows(2).any(|pair| pair[0] != pair[1]),
            "{kind}: variants differ: {texts:?}"
        );
    }
    let named = make_flavour(
        &flavour,
        &text_params("weapon", Some("Emberfang"), 3, 40),
        7,
    )
    .expect("named");
    assert_eq!(named.name, "Emberfang");
}

#[test]
fn flavour_text_writes_only_words_of_its_lexicon_and_names_that_fit_its_kind() {
    let flavour = model("kiln_flavour");
    let lexicon = flavour
        .lexicon()
        .expect("kiln_flavour ships a lexicon")
        .clone();
    assert!(lexicon.len() > 50_000, "{}", lexicon.len());
    // Obscenities and slurs are out of it (train_text.py's block list), "hell" is not.
    for word in ["fuck", "cunt", "whore", "rape", "piss"] {
        assert!(!lexicon.contains(word), "{word:?} is in the lexicon");
    }
    assert!(lexicon.contains("hell"));
    // Nor are words of our world that the Cataclysm: DDA descriptions it learned from use, and
    // the fantasy kinds' own descriptions never do (train_text.py's OUR_WORLD): its modern
    // setting, real places, eras and sports, souvenirs ("replica" stays: the SRD's Secret
    // Chest has one).
    for word in [
        "plastic",
        "computer",
        "robot",
        "battery",
        "bulletproof",
        "zipper",
        "germany",
        "japanese",
        "medieval",
        "baseball",
        "souvenir",
        "biollante",
    ] {
        assert!(!lexicon.contains(word), "{word:?} is in the lexicon");
    }
    let mut words = 0;
    for kind in flavour.contract().conditions.clone() {
        for (seed, name) in (0..6).zip([None, Some("Gravelmaw Zzyx")].into_iter().cycle()) {
            let params = text_params(&kind, name, 5, 40);
            let text = make_flavour(&flavour, &params, seed).expect("text");
            words += kiln_seq::words(&text.text).count();
            let named =
                |word: &&str| name.is_some_and(|name| kiln_seq::words(name).any(|n| n == *word));
            let unknown: Vec<_> = lexicon
                .unknown_words(&text.text)
                .into_iter()
                .filter(|w| !named(w))
                .collect();
            assert!(unknown.is_empty(), "{kind} {seed}: {unknown:?} in {text:?}");
            if name.is_none() {
                let unknown = lexicon.unknown_words(&text.name);
                assert!(unknown.is_empty(), "{kind} {seed}: name {unknown:?}");
                let fits = kiln_seq::name_fits(flavour.contract(), &kind, &text.name);
                assert!(
                    fits,
                    "{kind} {seed}: {:?} is another kind's name",
                    text.name
                );
            }
        }
    }
    assert!(words > 500, "{words} words checked");
}

#[test]
fn flavour_text_copies_no_run_of_its_training_texts() {
    let flavour = model("kiln_flavour");
    let spans = flavour
        .corpus_spans()
        .expect("kiln_flavour ships its novelty spans");
    assert!(spans.words() >= 6 && spans.len() > 10_000, "{spans:?}");
    let mut checked = 0;
    for kind in flavour.contract().conditions.clone() {
        for (seed, name) in (0..8).zip([None, Some("Emberfang")].into_iter().cycle()) {
            let text =
                make_flavour(&flavour, &text_params(&kind, name, 10, 60), seed).expect("text");
            assert_eq!(spans.copied_runs(&text.text), 0, "{kind} {seed}: {text:?}");
            checked += kiln_seq::words(&text.text).count();
        }
    }
    assert!(checked > 1000, "{checked} words checked");
    // The check is what keeps them apart: unchecked, the model repeats its training texts.
    let prompt = flavour.prompt("creature", None).expect("prompt");
    let end = flavour.token_id("<end>").expect("end");
    let copied: usize = (0..8)
        .map(|seed| {
            let decoding = Decoding {
                stop: &[end],
                ..Decoding::new(120)
            };
            let mut sampler = Sampler::new(Sampling::default(), seed);
            let tokens = flavour
                .generate(&prompt, &mut sampler, &decoding)
                .expect("generate")
                .tokens;
            spans.copied_runs(&flavour.decode(&tokens).expect("decode"))
        })
        .sum();
    assert!(
        copied > 0,
        "unchecked texts copied no run: the test above proves nothing"
    );
}

#[test]
fn a_word_that_cannot_be_taken_back_ends_the_generation_before_it() {
    // The same model without its novelty spans draws the same tokens until a copied run.
    let free = flavour_with(|contract| contract.novelty = None);
    let checked = model("kiln_flavour");
    let spans = checked.corpus_spans().expect("spans");
    let prompt = checked.prompt("creature", None).expect("prompt");
    let end = checked.token_id("<end>").expect("end");
    let mut stopped_early = 0;
    for seed in 0..8 {
        let generate = |model: &SequenceModel, max_retreats| {
            let decoding = Decoding {
                stop: &[end],
                real_words: true,
                max_retreats,
                ..Decoding::new(120)
            };
            let mut sampler = Sampler::new(Sampling::default(), seed);
            model
                .generate(&prompt, &mut sampler, &decoding)
                .expect("generate")
                .tokens
        };
        let unchecked = generate(&free, 0);
        let stopped = generate(&checked, 0);
        // Not a bent word ("polymorph" into "polymorphic") after masking its endings one by one:
        // the text up to the copied word, and no further.
        assert!(
            unchecked.starts_with(&stopped),
            "seed {seed}: {:?} is not where {:?} begins",
            checked.decode(&stopped),
            checked.decode(&unchecked)
        );
        let text = checked.decode(&stopped).expect("decode");
        assert_eq!(spans.copied_runs(&text), 0, "seed {seed}: {text:?}");
        stopped_early += usize::from(stopped.len() < unchecked.len());
    }
    assert!(
        stopped_early > 0,
        "no generation met a copied run: the test proves nothing"
    );
}

#[test]
fn made_up_names_are_new_and_without_the_names_file_mostly_are_not() {
    let checked = model("kiln_flavour");
    let names = checked
        .corpus_names()
        .expect("kiln_flavour ships its names");
    assert!(names.len() > 500, "{} names", names.len());
    let free = flavour_with(|contract| contract.novelty.as_mut().expect("novelty").names = None);
    let known = |model: &SequenceModel| {
        let made: Vec<String> = ["weapon", "potion", "creature"]
            .iter()
            .flat_map(|kind| (0..8).map(move |seed| (*kind, seed)))
            .map(|(kind, seed)| {
                let params = text_params(kind, None, 5, 30);
                make_flavour(model, &params, seed).expect("text").name
            })
            .collect();
        made.iter().filter(|name| names.contains(name)).count()
    };
    assert!(
        known(&checked) <= 2,
        "{} of 24 made-up names are the corpus's",
        known(&checked)
    );
    // Without the file the model mostly names what it was trained on: the rule is what counts.
    assert!(known(&free) >= 12, "only {} of 24", known(&free));
}

#[test]
fn of_several_candidate_descriptions_the_most_natural_is_kept() {
    // Without word checks (no lexicon, spans, nouns or kind words), a description is one
    // generation cut to whole sentences, so the candidates can be drawn here as Kiln draws them.
    let flavour = flavour_with(|contract| {
        contract.lexicon = None;
        contract.novelty = None;
        contract.identity_nouns.clear();
        contract.kind_words.clear();
    });
    let end = flavour.token_id("<end>").expect("end");
    let mut params = text_params("weapon", Some("Emberfang"), 5, 30);
    params.candidates = Bounded::new(4).expect("candidates");
    let prompt = flavour.prompt("weapon", Some("Emberfang")).expect("prompt");
    let enough = |tokens: &[u32]| {
        flavour
            .decode(tokens)
            .is_ok_and(|text| text.split_whitespace().nth(30).is_some())
    };
    let decoding = Decoding {
        stop: &[end],
        done: &enough,
        score: true,
        ..Decoding::new(params.sampling.max_tokens.get() as usize)
    };
    let mut not_the_first = 0;
    for seed in 0..6 {
        let mut sampler = Sampler::new(params.sampling, seed);
        let mut samplers: Vec<Sampler> = (0..4).map(|_| sampler.fork()).collect();
        let candidates = flavour
            .generate_rows(&vec![prompt.clone(); 4], &mut samplers, &decoding)
            .expect("candidates");
        let texts: Vec<(f32, String)> = candidates
            .iter()
            .filter_map(|generation| {
                let text = flavour.decode(&generation.tokens).expect("decode");
                kiln_seq::whole_sentences(&text, 5, 30).map(|t| (generation.mean_log_prob(), t))
            })
            .collect();
        let Some((best, (_, expected))) = texts
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.0.total_cmp(&b.0))
        else {
            continue; // no candidate fits: Kiln tries again with another seed
        };
        not_the_first += usize::from(best > 0);
        let kept = make_flavour(&flavour, &params, seed).expect("flavour");
        assert_eq!(&kept.text, expected, "seed {seed}");
    }
    assert!(
        not_the_first > 0,
        "the first candidate always won: the test proves nothing"
    );
}

#[test]
fn impossible_limits_fail_with_the_fix() {
    let flavour = model("kiln_flavour");
    let mut params = text_params("spell", None, 390, 400);
    params.sampling.max_tokens = Bounded::new(20).expect("tokens");
    let error = make_flavour(&flavour, &params, 1).expect_err("20 tokens cannot hold 390 words");
    assert!(
        error
            .to_string()
            .contains("widen min_words/max_words or raise sampling.max_tokens"),
        "{error}"
    );
}

#[test]
fn the_kv_cache_gives_the_tokens_a_full_recompute_gives() {
    let flavour = model("kiln_flavour");
    let prompt = flavour.prompt("potion", None).expect("prompt");
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    let run = |kv_cache, score| {
        flavour
            .generate(
                &prompt,
                &mut Sampler::new(greedy, 1),
                &Decoding {
                    kv_cache,
                    score,
                    ..Decoding::new(40)
                },
            )
            .expect("generate")
    };
    let cached = run(true, true);
    assert_eq!(cached.tokens.len(), 40, "max_tokens ends it");
    assert_eq!(cached.stopped_by, None);
    let recomputed = run(false, true);
    assert_eq!(cached.tokens, recomputed.tokens);
    let unscored = run(true, false);
    assert_eq!(unscored.tokens, cached.tokens, "scoring changes no draw");
    assert!(unscored.log_probs.is_empty(), "scored only when asked");
    // The logits differ in their last bits (other sums in other orders), the odds barely.
    for (step, (a, b)) in cached
        .log_probs
        .iter()
        .zip(&recomputed.log_probs)
        .enumerate()
    {
        assert!((a - b).abs() < 1e-4, "step {step}: {a} against {b}");
        // Greedy: each token was the likeliest, so at least 1 / vocabulary likely.
        assert!(
            *a <= 0.0 && *a >= -(flavour.vocabulary() as f32).ln(),
            "step {step}: {a}"
        );
    }
    assert_eq!(cached.log_probs.len(), cached.tokens.len());
}

#[test]
fn words_taken_back_behind_the_mask_give_the_tokens_of_words_cut_out() {
    // With the cache, a word taken back stays in it, hidden by the attention mask; without it,
    // the word is cut from the sequence fed again. Both must read the same text.
    let flavour = model("kiln_flavour");
    let end = flavour.token_id("<end>").expect("end");
    let unwanted = ["the", "a", "of", "and", "its", "is"].map(str::to_owned);
    let greedy = Sampling {
        temperature: 0.0,
        ..Sampling::default()
    };
    let (mut taken_back, mut steps, mut drifted) = (0, 0, 0);
    for kind in ["creature", "potion", "spell"] {
        let prompt = flavour.prompt(kind, None).expect("prompt");
        let run = |kv_cache| {
            let decoding = Decoding {
                stop: &[end],
                kv_cache,
                real_words: true,
                unwanted: &unwanted,
                score: true,
                ..Decoding::new(60)
            };
            flavour
                .generate(&prompt, &mut Sampler::new(greedy, 5), &decoding)
                .expect("generate")
        };
        let (masked, cut) = (run(true), run(false));
        assert_eq!(masked.tokens, cut.tokens, "{kind}");
        assert_eq!(masked.taken_back, cut.taken_back, "{kind}");
        // The two sum in other orders, so their logits differ in the last bits; the model's
        // 8-bit arithmetic rounds each block of activations to a step of 1/127 of its largest,
        // so now and then such a difference moves a value by one step: hundredths of a nat.
        for (a, b) in masked.log_probs.iter().zip(&cut.log_probs) {
            assert!((a - b).abs() < 0.1, "{kind}: {a} against {b}");
            drifted += usize::from((a - b).abs() > 1e-4);
        }
        steps += masked.log_probs.len();
        taken_back += masked.taken_back;
    }
    assert!(
        drifted * 20 <= steps,
        "{drifted} of {steps} steps differ by over 1e-4: the mask hides something else than a cut"
    );
    assert!(
        taken_back > 0,
        "no word was taken back: the test proves nothing"
    );
}

#[test]
fn rows_with_word_checks_made_side_by_side_equal_those_made_one_by_one() {
    let flavour = model("kiln_flavour");
    let end = flavour.token_id("<end>").expect("end");
    let prompt = flavour.prompt("creature", None).expect("prompt");
    // Common words unwanted: most rows take a word back, and stay in step behind their
    // attention masks (their log-probabilities too).
    let unwanted = ["the", "a", "of", "and", "its"].map(str::to_owned);
    let decoding = Decoding {
        stop: &[end],
        real_words: true,
        unwanted: &unwanted,
        score: true,
        ..Decoding::new(40)
    };
    let seeds = 0..7_u64;
    let samplers = || -> Vec<Sampler> {
        seeds
            .clone()
            .map(|seed| Sampler::new(Sampling::default(), seed))
            .collect()
    };
    let prompts = vec![prompt.clone(); seeds.clone().count()];
    let mut side = samplers();
    let side_by_side = flavour
        .generate_rows(&prompts, &mut side, &decoding)
        .expect("side by side");
    let mut alone = samplers();
    for (row, sampler) in alone.iter_mut().enumerate() {
        let one = flavour.generate(&prompt, sampler, &decoding).expect("one");
        assert_eq!(side_by_side[row], one, "row {row}");
    }
    let took_back = side_by_side.iter().filter(|g| g.taken_back > 0).count();
    assert!(
        took_back > 1,
        "{took_back} rows took a word back: the test proves little"
    );
    // The samplers are left where drawing alone leaves them.
    let next = |samplers: &mut Vec<Sampler>| -> Vec<u32> {
        samplers
            .iter_mut()
            .map(|s| s.sample(&[0.0; 64], &[], &|_| true).expect("token"))
            .collect()
    };
    assert_eq!(next(&mut side), next(&mut alone));
}

#[test]
fn a_stop_token_ends_generation_and_is_not_returned() {
    let flavour = model("kiln_flavour");
    let prompt = flavour.prompt("ring", None).expect("prompt");
    let everything: Vec<u32> = (0..flavour.vocabulary() as u32).collect();
    let generation = flavour
        .generate(
            &prompt,
            &mut Sampler::new(Sampling::default(), 3),
            &Decoding {
                stop: &everything,
                ..Decoding::new(50)
            },
        )
        .expect("generate");
    assert!(generation.tokens.is_empty());
    assert!(generation.stopped_by.is_some());
}

#[test]
fn a_broken_lexicon_spans_or_names_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = manifest_path("kiln_flavour");
    let folder = folder.parent().expect("folder");
    for file in [
        "model.ron",
        "model.onnx",
        "tokenizer.json",
        "lexicon.txt",
        "corpus_spans.bin",
        "corpus_names.txt",
    ] {
        std::fs::copy(folder.join(file), dir.path().join(file)).expect("copy");
    }
    let manifest = dir.path().join("model.ron");
    assert!(model_at(&manifest).is_ok(), "the copy loads");
    std::fs::write(dir.path().join("corpus_spans.bin"), [1, 2, 3]).expect("truncate");
    let message = model_at(&manifest).expect_err("3-byte spans").to_string();
    assert!(
        message.contains("corpus_spans.bin: cannot read the training text's runs of words"),
        "{message}"
    );
    std::fs::write(dir.path().join("corpus_names.txt"), [b'a', 0xff, b'\n']).expect("corrupt");
    let message = model_at(&manifest)
        .expect_err("names not UTF-8")
        .to_string();
    assert!(
        message.contains("corpus_names.txt: cannot read the training texts' names")
            && message.contains("not UTF-8"),
        "{message}"
    );
    std::fs::write(dir.path().join("lexicon.txt"), [b'a', 0xff, b'\n']).expect("corrupt");
    let message = model_at(&manifest).expect_err("not UTF-8").to_string();
    assert!(
        message.contains("lexicon.txt") && message.contains("not UTF-8"),
        "{message}"
    );
}

#[test]
fn a_tokenizer_from_another_model_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flavour = manifest_path("kiln_flavour");
    let folder = flavour.parent().expect("folder");
    for file in ["model.ron", "model.onnx"] {
        std::fs::copy(folder.join(file), dir.path().join(file)).expect("copy");
    }
    std::fs::copy(
        manifest_path("kiln_melody").with_file_name("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .expect("copy the wrong tokenizer");
    let error = model_at(&dir.path().join("model.ron")).expect_err("mismatched pair");
    let message = error.to_string();
    assert!(
        message.contains("tokenizer.json: this tokenizer has")
            && message.contains("ship the tokenizer.json that was trained with this model"),
        "{message}"
    );
}

fn music_params(tempo: u32, bars: u32, drums: bool) -> MusicParams {
    MusicParams {
        key: "F#".to_owned(),
        mode: Mode::Minor,
        tempo: Bounded::new(tempo).expect("tempo"),
        bars: Bounded::new(bars).expect("bars"),
        instruments: Instruments::default(),
        drums,
        sampling: Sampling::default(),
    }
}

#[test]
fn loops_are_exactly_their_bars_long_seamless_and_looped() {
    let melody = model("kiln_melody");
    for (tempo, bars, drums) in [(120, 4, true), (132, 8, false), (90, 12, true)] {
        let params = music_params(tempo, bars, drums);
        let made = make_loop(&melody, &params, 5).expect("loop");
        let expected = loop_samples(bars, tempo, made.sample_rate);
        assert_eq!(made.samples.len(), expected, "{tempo} bpm, {bars} bars");
        if tempo == 120 {
            assert_eq!(expected, bars as usize * 2 * 44_100, "exact at 120 bpm");
        }
        assert_eq!(made.arrangement.steps, bars * 16);
        let jump = kiln_music::synth::seam_jump(&made.samples);
        assert!(
            jump <= 1.0,
            "the seam jumps {jump:.2}x a normal step ({tempo} bpm)"
        );
        assert_eq!(
            kiln_music::wav::loop_points(&made.wav),
            Some((0, expected as u32 - 1))
        );
        let wav = hound::WavReader::new(Cursor::new(&made.wav)).expect("WAV");
        assert_eq!(wav.len() as usize, expected);
        let midi = midly::Smf::parse(&made.midi).expect("MIDI");
        assert_eq!(midi.tracks.len(), 1 + 3 + usize::from(drums));
    }
}

#[test]
fn loops_are_reproducible_and_seeds_differ() {
    let melody = model("kiln_melody");
    let params = music_params(100, 4, true);
    let a = make_loop(&melody, &params, 1).expect("a");
    let b = make_loop(&melody, &params, 1).expect("b");
    let c = make_loop(&melody, &params, 2).expect("c");
    assert_eq!(a.wav, b.wav);
    assert_eq!(a.midi, b.midi);
    assert_ne!(a.wav, c.wav);
}

#[test]
fn melodies_made_side_by_side_equal_those_made_one_by_one() {
    let melody = model("kiln_melody");
    // 12 bars: a second round, prompted with each melody's own last bars.
    let params = music_params(120, 12, false);
    let seeds = [4, 9, 1, 77];
    let side_by_side = generate_melodies(&melody, &params, &seeds).expect("side by side");
    for (made, &seed) in side_by_side.iter().zip(&seeds) {
        assert_eq!(made, &generate_melody(&melody, &params, seed).expect("one"));
        assert_eq!(made.bars(), 12);
    }
    assert_ne!(side_by_side[0], side_by_side[1]);
    let loops = make_loops(&melody, &params, seeds).expect("loops");
    assert_eq!(
        loops[3].wav,
        make_loop(&melody, &params, 77).expect("loop").wav
    );
}

#[test]
fn a_hard_cut_loop_is_caught_by_the_seam_measure() {
    // The measure itself: a sine cut mid-cycle jumps far more than its ordinary steps.
    let cut: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.05).sin()).collect();
    assert!(kiln_music::synth::seam_jump(&cut) > 5.0);
    let whole: Vec<f32> = (0..1000)
        .map(|i| (i as f32 * std::f32::consts::TAU / 100.0).sin())
        .collect();
    assert!(kiln_music::synth::seam_jump(&whole) <= 1.0);
}

#[test]
fn portraits_are_flat_fills_of_the_models_colours_and_a_variant_alone_is_the_same() {
    let model = model("kiln_portraits");
    let colours: std::collections::BTreeSet<[u8; 4]> = model
        .pixel_blocks()
        .expect("a pixel model")
        .iter()
        .flatten()
        .flat_map(|block| block.iter().copied())
        .collect();
    // More variants than one run's rows, so the last runs in a second batch.
    let seeds: Vec<u64> = (100..100 + kiln_seq::PIXEL_BATCH_ROWS as u64 + 2).collect();
    let drawn = draw_pixel_art(&model, Some("portrait"), &seeds).expect("portraits");
    let mut colour_counts = Vec::new();
    for art in &drawn {
        assert_eq!((art.width, art.height), (16, 16));
        let pixels: Vec<[u8; 4]> = art
            .rgba
            .chunks(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect();
        assert!(
            pixels.iter().all(|p| colours.contains(p)),
            "a colour outside the model's"
        );
        let distinct: std::collections::BTreeSet<&[u8; 4]> = pixels.iter().collect();
        colour_counts.push(distinct.len());
        let opaque = pixels.iter().filter(|p| p[3] == 255).count();
        assert!((64..256).contains(&opaque), "{opaque} opaque pixels of 256");
    }
    // DiceBear's portraits have 9 colours and transparency (at most 16 and transparency);
    // noise would have dozens.
    let mean = colour_counts.iter().sum::<usize>() as f64 / colour_counts.len() as f64;
    assert!(
        mean <= 13.0 && colour_counts.iter().all(|&n| n <= 32),
        "colours per portrait {colour_counts:?}"
    );
    assert_ne!(drawn[0], drawn[1], "variants differ");
    let alone = draw_pixel_art(&model, None, &seeds[seeds.len() - 1..]).expect("one portrait");
    assert_eq!(
        alone[0],
        drawn[drawn.len() - 1],
        "drawn alone as in a batch"
    );
    let err = draw_pixel_art(&model, Some("creature"), &[1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("has no \"creature\": use one of portrait"),
        "{err}"
    );
}
