//! `kiln studio`: starts the `kiln-studio` app (a Bevy app with the editor panel), which lives
//! in its own binary so that `kiln` itself builds without Bevy — like `cargo foo` runs `cargo-foo`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::failure::{Failure, Kind};

/// The studio app's executable name.
const STUDIO: &str = "kiln-studio";

/// Arguments of `kiln studio`, passed on to `kiln-studio`.
#[derive(Debug, clap::Args)]
pub struct StudioArgs {
    /// Arguments for kiln-studio (`--assets <dir>`, `--models <dir>`, `--out <dir>`; see
    /// `kiln-studio --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Runs `kiln-studio` from beside this executable, else from `PATH`; returns its exit code.
pub fn run(args: &StudioArgs) -> Result<u8, Failure> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(STUDIO)))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(STUDIO));
    match Command::new(&program).args(&args.args).status() {
        // Killed by a signal: no code of its own.
        Ok(status) => Ok(status
            .code()
            .and_then(|code| u8::try_from(code).ok())
            .unwrap_or(1)),
        Err(err) => Err(Failure::new(
            Kind::Unavailable,
            format!(
                "cannot start {} ({err}): `kiln studio` runs the kiln-studio app, which \
                 needs Bevy and is built separately: `cargo build --release -p kiln_studio` \
                 (puts it next to kiln), or run it directly with `cargo run --release -p kiln_studio`",
                program.display()
            ),
        )),
    }
}
