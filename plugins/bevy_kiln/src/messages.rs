//! Messages other systems can read about generation, carried from loader tasks to the world.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use bevy::prelude::*;

/// A recipe entry was generated (on load or hot reload).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct AssetGenerated {
    /// Asset path of the recipe.
    pub recipe: String,
    /// Entry name.
    pub entry: String,
    /// Model that made it.
    pub model: String,
    /// sha256 of the model bytes that ran.
    pub model_sha256: String,
    /// Execution provider that ran (`cpu`, `cuda`).
    pub execution_provider: String,
    /// Seed of each variant, in order.
    pub seeds: Vec<u64>,
    /// Wall time of the generation, off the main thread.
    pub elapsed: Duration,
}

/// A recipe or one of its models is broken; the last good assets stay in place.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct GenerationFailed {
    /// Asset path of the recipe.
    pub recipe: String,
    /// What is wrong and how to fix it (file, line and column where known).
    pub error: String,
}

/// Either message, as sent from a loader task.
#[derive(Debug)]
pub(crate) enum Report {
    Generated(AssetGenerated),
    Failed(GenerationFailed),
}

/// Channel from loader tasks (any thread) to [`forward_reports`] (main world).
#[derive(Resource)]
pub(crate) struct ReportReceiver(pub Mutex<Receiver<Report>>);

pub(crate) fn report_channel() -> (Sender<Report>, ReportReceiver) {
    let (sender, receiver) = channel();
    (sender, ReportReceiver(Mutex::new(receiver)))
}

/// Writes what loader tasks reported as Bevy messages.
pub(crate) fn forward_reports(
    receiver: Res<ReportReceiver>,
    mut generated: MessageWriter<AssetGenerated>,
    mut failed: MessageWriter<GenerationFailed>,
) {
    let receiver = receiver
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for report in receiver.try_iter() {
        match report {
            Report::Generated(message) => {
                info!(
                    "kiln: generated {}#{} on {} in {:.0?}",
                    message.recipe, message.entry, message.execution_provider, message.elapsed
                );
                generated.write(message);
            }
            Report::Failed(message) => {
                error!(
                    "kiln: {}: {} (the last good assets stay in place)",
                    message.recipe, message.error
                );
                failed.write(message);
            }
        }
    }
}
