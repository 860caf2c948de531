//! Helpers shared by the integration tests: a temporary project and the `kiln` binary run in it.
// Each test binary uses its own subset.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::path::Path;

pub use kiln_testkit::{Models, files_below};
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

/// A temporary project (see [`kiln_testkit::Project`]) with `recipes/`, run with the `kiln`
/// binary.
pub struct Project {
    pub project: kiln_testkit::Project,
}

impl std::ops::Deref for Project {
    type Target = kiln_testkit::Project;

    fn deref(&self) -> &Self::Target {
        &self.project
    }
}

impl Project {
    pub fn new(recipes: &[(&str, &str)]) -> Self {
        let project = kiln_testkit::Project::new();
        for (name, text) in recipes {
            project.write(&format!("recipes/{name}"), text);
        }
        Self { project }
    }

    /// `kiln <args>` in the project folder, using the repository's ONNX Runtime cache.
    pub fn kiln(&self, args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
        kiln_command(self.root())
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
            Models::Fixtures.dir()
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
        self.copy_model(Models::Fixtures, "tiny_texture");
        self.copy_model(Models::Fixtures, "tiny_sprite");
    }

    pub fn manifest(&self, out: &str) -> BTreeMap<String, Value> {
        let text = std::fs::read(self.path(out).join("kiln-bake.json")).expect("bake manifest");
        let manifest: Value = serde_json::from_slice(&text).expect("json");
        serde_json::from_value(manifest["files"].clone()).expect("files map")
    }
}

pub fn kiln_command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command
        .current_dir(cwd)
        .env("KILN_CACHE_DIR", Path::new(REPO).join(".kiln"))
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("KILN_NO_FETCH")
        .env_remove(kiln_onnx::NO_TELEMETRY_ENV);
    command
}

/// What the process printed on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the process printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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
    let path = Models::Fixtures.dir().join(name).join("model.ron");
    kiln_recipe::ModelManifest::load(&path)
        .expect("fixture")
        .sha256
}

pub fn sha256(bytes: &[u8]) -> String {
    kiln_onnx::sha256_hex(bytes)
}
