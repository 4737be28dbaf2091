//! Progress of long work (a backup, a restore, a verification): the caller decides how to show
//! it (a bar on a terminal, JSON lines otherwise).

/// One step of progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// What is being done: `sealing`, `uploading`, `downloading`, `opening`, `replaying`, …
    pub stage: &'static str,
    /// What it is done to (a part, a destination), never content.
    pub item: String,
    pub done: u64,
    /// `0` when unknown.
    pub total: u64,
}

/// Where progress goes.
pub trait Progress: Send + Sync {
    fn step(&self, step: Step);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _: Step) {}
}

impl<F: Fn(Step) + Send + Sync> Progress for F {
    fn step(&self, step: Step) {
        self(step)
    }
}
