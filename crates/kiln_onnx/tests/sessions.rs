//! Sessions through the real ONNX Runtime, with the tiny fixtures from `tests/fixtures`.

use std::path::{Path, PathBuf};

use kiln_onnx::{Mismatch, Provider, ProviderPolicy, SessionCache, SessionError, SessionOptions};
use kiln_recipe::ModelManifest;

fn fixture(name: &str) -> (ModelManifest, PathBuf) {
    fixture_in("models", name)
}

/// A fixture model of `tests/fixtures/<folder>/<name>`.
fn fixture_in(folder: &str, name: &str) -> (ModelManifest, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(folder)
        .join(name)
        .join("model.ron");
    (ModelManifest::load(&path).expect("fixture manifest"), path)
}

fn cache(policy: ProviderPolicy) -> SessionCache {
    SessionCache::new(SessionOptions {
        policy,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime")
}

/// A copy of a fixture folder whose manifest text is edited by `edit`.
fn edited_copy(
    name: &str,
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, ModelManifest, PathBuf) {
    let (_, original) = fixture(name);
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = original.parent().expect("folder");
    std::fs::copy(folder.join("model.onnx"), dir.path().join("model.onnx")).expect("copy");
    let text = edit(std::fs::read_to_string(&original).expect("read"));
    let path = dir.path().join("model.ron");
    std::fs::write(&path, &text).expect("write");
    let manifest = ModelManifest::from_str(&text, &path).expect("edited manifest parses");
    (dir, manifest, path)
}

#[test]
fn same_bytes_load_once_changed_bytes_load_fresh() {
    let sessions = cache(ProviderPolicy::Cpu);
    let (texture, texture_path) = fixture("tiny_texture");
    let first = sessions.load_model(&texture, &texture_path).expect("load");
    let second = sessions
        .load_model(&texture, &texture_path)
        .expect("load again");
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    assert_eq!(sessions.sessions_created(), 1);
    assert_eq!(first.sha256(), texture.sha256);
    assert_eq!(first.provider(), Provider::Cpu);

    let (sprite, sprite_path) = fixture("tiny_sprite");
    let other = sessions
        .load_model(&sprite, &sprite_path)
        .expect("load sprite");
    assert_eq!(sessions.sessions_created(), 2);
    assert_ne!(other.sha256(), first.sha256());

    sessions.retain(|hash| hash != texture.sha256);
    sessions
        .load_model(&texture, &texture_path)
        .expect("reload");
    assert_eq!(sessions.sessions_created(), 3, "evicted model loads fresh");
}

#[test]
fn requiring_cuda_without_it_is_a_clear_error() {
    let sessions = cache(ProviderPolicy::Cuda);
    let (manifest, path) = fixture("tiny_texture");
    let err = sessions.load_model(&manifest, &path).unwrap_err();
    let SessionError::CudaUnavailable { reason } = &err else {
        panic!("expected CudaUnavailable, got {err}");
    };
    assert!(!reason.is_empty());
    let text = err.to_string();
    assert!(
        text.contains("--ep cuda") && text.contains("fix:"),
        "{text}"
    );
    assert!(kiln_onnx::check_policy(sessions.runtime(), ProviderPolicy::Cuda).is_err());
}

#[test]
fn auto_policy_runs_sequence_models_on_the_cpu_and_keys_them_so() {
    let sessions = cache(ProviderPolicy::Auto);
    let (manifest, path) = fixture_in("decoders", "tiny_decoder_past");
    let session = sessions.load_model(&manifest, &path).expect("loads");
    assert_eq!(session.provider(), Provider::Cpu);
    assert_eq!(session.fallback_reason(), Some(kiln_onnx::SEQUENCES_ON_CPU));
    assert_eq!(sessions.expected_provider(&manifest), Provider::Cpu);
    let forced = cache(ProviderPolicy::Cpu);
    assert_eq!(forced.expected_provider(&manifest), Provider::Cpu);
}

#[test]
fn auto_policy_reports_the_provider_that_ran() {
    let sessions = cache(ProviderPolicy::Auto);
    let (manifest, path) = fixture("tiny_texture");
    let session = sessions
        .load_model(&manifest, &path)
        .expect("auto always runs");
    match kiln_onnx::cuda_status(sessions.runtime()) {
        Ok(()) => assert_eq!(session.provider(), Provider::Cuda),
        Err(reason) => {
            assert_eq!(session.provider(), Provider::Cpu);
            assert_eq!(session.fallback_reason(), Some(reason.as_str()));
        }
    }
}

#[test]
fn contract_mismatches_are_each_named() {
    let (_dir, manifest, path) = edited_copy("tiny_texture", |text| {
        text.replace(
            "shape: [\"N\", 4, \"h\", \"w\"]",
            "shape: [\"N\", 6, \"h\", \"w\"]",
        )
        .replace(
            "(name: \"image\", dtype: F32",
            "(name: \"image\", dtype: U8",
        )
    });
    let err = cache(ProviderPolicy::Cpu)
        .load_model(&manifest, &path)
        .unwrap_err();
    let SessionError::Contract(contract) = &err else {
        panic!("expected a contract error, got {err}")
    };
    assert_eq!(
        contract.mismatches,
        [
            Mismatch::Dim {
                name: "z".into(),
                axis: 1,
                declared: 6,
                actual: 4
            },
            Mismatch::DType {
                name: "image".into(),
                declared: kiln_recipe::ElementType::U8,
                actual: "F32".into()
            },
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains(&path.with_file_name("model.onnx").display().to_string()),
        "{text}"
    );
}

#[test]
fn undeclared_and_missing_tensors_are_named() {
    let (_dir, manifest, path) = edited_copy("tiny_texture", |text| {
        text.replace(
            "        (name: \"class\", dtype: I64, shape: [\"N\"]),\n",
            "",
        )
        .replace("        class_input: \"class\",\n", "")
        .replace("outputs: [(name: \"image\"", "outputs: [(name: \"rgb\"")
        .replace("output: \"image\"", "output: \"rgb\"")
    });
    let err = cache(ProviderPolicy::Cpu)
        .load_model(&manifest, &path)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "output \"rgb\" is declared but the model has no such output (it has: image)"
        ),
        "{text}"
    );
    assert!(text.contains("the model needs input class: I64"), "{text}");
}

#[test]
fn replaced_model_bytes_fail_the_hash_check_with_the_fix() {
    let (dir, manifest, path) = edited_copy("tiny_texture", |text| text);
    let (sprite, sprite_path) = fixture("tiny_sprite");
    std::fs::copy(
        sprite.onnx_path(&sprite_path),
        dir.path().join("model.onnx"),
    )
    .expect("replace");
    let err = cache(ProviderPolicy::Cpu)
        .load_model(&manifest, &path)
        .unwrap_err();
    assert!(matches!(err, SessionError::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("sha256: \"{}\"", sprite.sha256)),
        "{err}"
    );
}

#[test]
fn corrupt_model_is_reported_not_panicked() {
    let err = cache(ProviderPolicy::Cpu)
        .load_bytes(b"\x08\x07definitely not protobuf")
        .unwrap_err();
    assert!(matches!(err, SessionError::Create { .. }), "{err}");
}

#[test]
fn hash_check_warn_accepts_a_replaced_model_and_records_its_real_hash() {
    let (_dir, manifest, path) = edited_copy("tiny_texture", |text| {
        let (original, _) = fixture("tiny_texture");
        text.replace(&original.sha256, &"0".repeat(64))
    });
    let onnx = manifest.onnx_path(&path);
    let bytes = std::fs::read(&onnx).expect("read");
    let sessions = cache(ProviderPolicy::Cpu);
    let strict = sessions.load_model_bytes(&manifest, &bytes, &onnx, kiln_onnx::HashCheck::Strict);
    assert!(matches!(strict, Err(SessionError::HashMismatch { .. })));
    let session = sessions
        .load_model_bytes(&manifest, &bytes, &onnx, kiln_onnx::HashCheck::Warn)
        .expect("warn accepts");
    assert_eq!(session.sha256(), fixture("tiny_texture").0.sha256);
}

#[test]
fn overlapping_calls_get_sessions_of_their_own_up_to_the_limit() {
    let (texture, path) = fixture("tiny_texture");
    let load = |sessions_per_model| {
        SessionCache::new(SessionOptions {
            policy: ProviderPolicy::Cpu,
            intra_threads: Some(1),
            sessions_per_model,
        })
        .expect("ONNX Runtime")
        .load_model(&texture, &path)
        .expect("load")
    };
    let pooled = load(2);
    {
        let first = pooled.lock();
        let second = pooled.lock();
        assert!(!std::ptr::eq(&*first, &*second), "two sessions at once");
        assert_eq!(pooled.sessions_made(), 2);
    }
    // Handed back, they serve later calls: no third one is made.
    drop((pooled.lock(), pooled.lock()));
    assert_eq!(pooled.sessions_made(), 2);

    // At the limit, a call waits for a session to come back.
    let single = load(1);
    let held = single.lock();
    let (sender, waited) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _lease = single.lock();
            sender.send(()).expect("send");
        });
        let timeout = std::time::Duration::from_millis(200);
        assert!(
            waited.recv_timeout(timeout).is_err(),
            "ran while the session was held"
        );
        drop(held);
        waited.recv().expect("ran once it was handed back");
    });
    assert_eq!(single.sessions_made(), 1);
}

#[test]
fn sharing_the_cores_between_lanes_reshapes_the_sessions_made_after_it() {
    let (texture, path) = fixture("tiny_texture");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let sessions = SessionCache::new(SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: None,
        sessions_per_model: 4,
    })
    .expect("ONNX Runtime");
    let load = || sessions.load_model(&texture, &path).expect("load");

    // Two lanes: two sessions at most, each with half the cores.
    sessions.share_cores(2);
    let two_lanes = load();
    assert_eq!(two_lanes.most_sessions(), 2);
    assert_eq!(two_lanes.intra_threads(), Some((cores / 2).max(1)));
    assert!(std::sync::Arc::ptr_eq(&two_lanes, &load()), "cached");

    // The same shape again keeps the cached session.
    sessions.share_cores(2);
    assert!(std::sync::Arc::ptr_eq(&two_lanes, &load()), "kept");
    assert_eq!(sessions.sessions_created(), 1);

    // One lane (a re-bake of one entry): a new session, on every core.
    sessions.share_cores(1);
    let one_lane = load();
    assert!(!std::sync::Arc::ptr_eq(&two_lanes, &one_lane), "reshaped");
    assert_eq!(sessions.sessions_created(), 2);
    assert_eq!(
        (one_lane.most_sessions(), one_lane.intra_threads()),
        (1, None)
    );

    // Threads fixed by the options (`--threads`) stay fixed whatever the lanes.
    let fixed = cache(ProviderPolicy::Cpu);
    fixed.share_cores(3);
    let model = fixed.load_model(&texture, &path).expect("load");
    assert_eq!((model.most_sessions(), model.intra_threads()), (3, Some(1)));
}
