//! Helpers shared by the integration tests: a temporary project and the `kiln` binary run in it.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub const DUNGEON: &str = r#"(
    assets: {
        "floor": (model: "tiny_texture", seed: 40, variants: 3, kind: Texture(size: (48, 32), class: "moss")),
        "hero": (model: "tiny_sprite", seed: 9, output: "chars/hero", kind: Sprite()),
    },
)
"#;

/// A temporary project: `recipes/` with the given files, fixture models, and an output folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(recipes: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in recipes {
            let path = dir.path().join("recipes").join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write recipe");
        }
        Self { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `kiln <args>` in the project folder, using the repository's ONNX Runtime cache.
    pub fn kiln(&self, args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
        kiln_command(self.dir.path())
            .args(args)
            .output()
            .expect("run kiln")
    }

    /// `kiln bake recipes --out <out> --ep cpu <extra>`, with the project's own `models/` when
    /// it has one (see [`Project::copy_models`]), else the fixture models.
    pub fn bake(&self, out: &str, extra: &[&str]) -> Output {
        self.kiln(&self.args("bake", out, extra))
    }

    /// The arguments of `kiln <command>` over this project, as [`Project::bake`] uses them.
    pub fn args(&self, command: &str, out: &str, extra: &[&str]) -> Vec<String> {
        let models = if self.path("models").is_dir() {
            self.path("models")
        } else {
            Path::new(REPO).join("tests/fixtures/models")
        };
        let mut args: Vec<String> = [command, "recipes", "--out", out, "--models"]
            .map(str::to_owned)
            .to_vec();
        args.push(models.display().to_string());
        if !extra.contains(&"--ep") {
            args.extend(["--ep".to_owned(), "cpu".to_owned()]);
        }
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    }

    /// Copies the fixture models into the project's own `models/`, to be changed by a test.
    pub fn copy_models(&self) {
        self.copy_model("models/tiny_texture");
        self.copy_model("models/tiny_sprite");
    }

    /// Copies one fixture model folder (relative to `tests/fixtures`) into `models/`.
    pub fn copy_model(&self, fixture: &str) {
        let from = Path::new(REPO).join("tests/fixtures").join(fixture);
        let to = self
            .path("models")
            .join(from.file_name().expect("model folder"));
        std::fs::create_dir_all(&to).expect("mkdir");
        for file in ["model.ron", "model.onnx"] {
            std::fs::copy(from.join(file), to.join(file)).expect("copy model");
        }
    }

    pub fn manifest(&self, out: &str) -> BTreeMap<String, Value> {
        let text = std::fs::read(self.path(out).join("kiln-bake.json")).expect("bake manifest");
        let manifest: Value = serde_json::from_slice(&text).expect("json");
        serde_json::from_value(manifest["files"].clone()).expect("files map")
    }

    /// Every file below `out`, relative, with its bytes.
    pub fn files(&self, out: &str) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        collect(&self.path(out), &self.path(out), &mut files);
        files
    }
}

pub fn kiln_command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command
        .current_dir(cwd)
        .env("KILN_CACHE_DIR", Path::new(REPO).join(".kiln"))
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("KILN_NO_FETCH");
    command
}

pub fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path
                .strip_prefix(root)
                .expect("inside")
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(relative, std::fs::read(&path).expect("read"));
        }
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn fixture_sha(name: &str) -> String {
    let path = Path::new(REPO)
        .join("tests/fixtures/models")
        .join(name)
        .join("model.ron");
    kiln_recipe::ModelManifest::load(&path)
        .expect("fixture")
        .sha256
}

pub fn sha256(bytes: &[u8]) -> String {
    kiln_onnx::sha256_hex(bytes)
}
