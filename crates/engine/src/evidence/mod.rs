//! Evidence: checking that a journal is what the engine derives from its own inputs
//! ([`check_journal`]), and evidence bundles that carry everything needed to check it offline
//! ([`Bundle`]).
//!
//! A journal is checked from what it pins, never from resources as they are now: the first
//! entry (`ExecutionStarted`) holds the Plan and Goal as they were (`pinned`), the graph
//! digest, the Policies and provider facts (`governance`). The Plan is compiled again and its
//! digest compared; then every input is handled again by the engine and each decision —
//! policy verdicts included, re-evaluated against the pinned Policy versions — must equal the
//! journaled one; finally folding the journal must give the same state as replaying it.

mod artifacts;
mod bundle;
mod check;
mod diff;

pub use artifacts::{AttemptOutcome, AttemptRecord, RunArtifacts};
pub use bundle::{Bundle, BundleExecution, Manifest, BUNDLE_KIND, BUNDLE_PARTS};
pub use check::{check_journal, load_journal, JournalReport, Problem};
pub use diff::{differences, Difference};
