//! Replay: handle a journal's inputs again and check that the engine decides exactly what
//! the journal recorded.

use crate::event::Event;
use crate::graph::ExecGraph;
use crate::machine::Execution;
use std::fmt;
use std::sync::Arc;

/// Where a journal and the engine disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Index of the first journal entry that differs (or the journal's length, if the
    /// engine derived a decision the journal lacks at its end).
    pub index: usize,
    /// The entry the journal has there, if any.
    pub journaled: Option<Box<Event>>,
    /// The decision the engine derives there, if any.
    pub derived: Option<Box<Event>>,
    /// What is wrong, in words.
    pub detail: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Option<Box<Event>>| match e {
            Some(e) => serde_json::to_string(e).unwrap_or_else(|_| format!("{e:?}")),
            None => "nothing".to_string(),
        };
        write!(
            f,
            "journal entry {}: {}; journaled {}, derived {}",
            self.index,
            self.detail,
            show(&self.journaled),
            show(&self.derived)
        )
    }
}

impl std::error::Error for Divergence {}

/// Replays `journal` on a fresh execution of `graph`: every input is handled again and the
/// decisions derived must equal, one for one and in order, the decisions journaled after it.
/// Returns the final execution, or the first divergence.
pub fn replay(graph: Arc<ExecGraph>, journal: &[Event]) -> Result<Execution, Divergence> {
    let mut execution = Execution::new(graph);
    let mut index = 0;
    while index < journal.len() {
        let input = match &journal[index] {
            Event::Input(input) => input.clone(),
            Event::Decision(_) => {
                return Err(Divergence {
                    index,
                    journaled: Some(Box::new(journal[index].clone())),
                    derived: None,
                    detail: "a decision that no input leads to".to_string(),
                })
            }
        };
        let step = execution.handle(input).map_err(|e| Divergence {
            index,
            journaled: Some(Box::new(journal[index].clone())),
            derived: None,
            detail: format!("the engine refuses the input: {e}"),
        })?;
        index += 1;
        for decision in step.decisions {
            let derived = Event::Decision(decision);
            match journal.get(index) {
                Some(journaled) if *journaled == derived => index += 1,
                journaled => {
                    let detail = match journaled {
                        None => "the journal ends where the engine derives a decision",
                        Some(Event::Input(_)) => {
                            "the journal has an input where the engine derives a decision"
                        }
                        Some(Event::Decision(_)) => "the decisions differ",
                    };
                    return Err(Divergence {
                        index,
                        journaled: journaled.cloned().map(Box::new),
                        derived: Some(Box::new(derived)),
                        detail: detail.to_string(),
                    });
                }
            }
        }
        if let Some(extra @ Event::Decision(_)) = journal.get(index) {
            return Err(Divergence {
                index,
                journaled: Some(Box::new(extra.clone())),
                derived: None,
                detail: "the journal has a decision the engine does not derive".to_string(),
            });
        }
    }
    Ok(execution)
}
