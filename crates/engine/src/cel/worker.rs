//! The one thread that parses and evaluates CEL, with a large stack.
//!
//! The `cel` crate's parser and evaluator recurse once per level of the syntax tree and need
//! far more stack per level in debug builds than a 2 MiB runtime worker thread has. Rather
//! than ask every caller for a big stack, the engine sends each job to this thread (started on
//! first use) and waits for the answer. It keeps up to [`CACHE_SIZE`] parsed programs, so
//! an expression is usually parsed once per process. Results never depend on the cache.

use super::convert;
use super::refs::{node_reads, NodeReads};
use cel::{Context, Program};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Mutex, OnceLock};

/// Stack of the evaluator thread: the parser needs about 200 KB per nesting level in debug
/// builds, and expressions nest at most 32 levels.
const STACK: usize = 64 << 20;
/// Parsed programs kept; the cache is emptied when full.
const CACHE_SIZE: usize = 512;

/// What an expression reads, found by parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// The top-level variables it reads (`parameters`, `nodes`, …), sorted.
    pub variables: Vec<String>,
    /// The nodes it reads through `nodes`.
    pub nodes: NodeReads,
}

enum Job {
    Analyze {
        text: String,
        reply: mpsc::Sender<Result<Analysis, String>>,
    },
    Evaluate {
        text: String,
        variables: Vec<(&'static str, Value)>,
        reply: mpsc::Sender<Result<Value, String>>,
    },
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The evaluator thread could not be started or has gone.
    Unavailable,
    /// The expression failed, with the parser's or evaluator's message.
    Failed(String),
}

pub(crate) fn analyze(text: &str) -> Result<Analysis, Fault> {
    let (reply, answer) = mpsc::channel();
    send(Job::Analyze {
        text: text.to_string(),
        reply,
    })?;
    answer
        .recv()
        .map_err(|_| Fault::Unavailable)?
        .map_err(Fault::Failed)
}

pub(crate) fn evaluate(text: &str, variables: Vec<(&'static str, Value)>) -> Result<Value, Fault> {
    let (reply, answer) = mpsc::channel();
    send(Job::Evaluate {
        text: text.to_string(),
        variables,
        reply,
    })?;
    answer
        .recv()
        .map_err(|_| Fault::Unavailable)?
        .map_err(Fault::Failed)
}

fn send(job: Job) -> Result<(), Fault> {
    let sent = thread()
        .lock()
        .map(|tx| tx.send(job).is_ok())
        .unwrap_or(false);
    if sent {
        Ok(())
    } else {
        Err(Fault::Unavailable)
    }
}

fn thread() -> &'static Mutex<mpsc::Sender<Job>> {
    static THREAD: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    THREAD.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        // If the thread cannot start, `rx` is dropped and every job reports `Unavailable`.
        let _ = std::thread::Builder::new()
            .name("planspec-engine-cel".into())
            .stack_size(STACK)
            .spawn(move || Worker::default().run(rx));
        Mutex::new(tx)
    })
}

#[derive(Default)]
struct Worker {
    programs: HashMap<String, Program>,
}

impl Worker {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        for job in jobs {
            match job {
                Job::Analyze { text, reply } => {
                    let _ = reply.send(self.analyze(&text));
                }
                Job::Evaluate {
                    text,
                    variables,
                    reply,
                } => {
                    let _ = reply.send(self.evaluate(&text, &variables));
                }
            }
        }
    }

    fn program(&mut self, text: &str) -> Result<&Program, String> {
        if !self.programs.contains_key(text) {
            // The parser is third-party code: a panic in it must not take the engine down.
            let program = match catch_unwind(|| Program::compile(text)) {
                Ok(Ok(program)) => program,
                Ok(Err(errors)) => return Err(parse_message(&errors.to_string())),
                Err(_) => return Err("the expression could not be parsed".into()),
            };
            if self.programs.len() >= CACHE_SIZE {
                self.programs.clear();
            }
            self.programs.insert(text.to_string(), program);
        }
        self.programs
            .get(text)
            .ok_or_else(|| "the expression could not be parsed".to_string())
    }

    fn analyze(&mut self, text: &str) -> Result<Analysis, String> {
        let program = self.program(text)?;
        let mut variables: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .map(str::to_string)
            .collect();
        variables.sort();
        variables.dedup();
        let nodes = node_reads(program.expression());
        Ok(Analysis { variables, nodes })
    }

    fn evaluate(
        &mut self,
        text: &str,
        variables: &[(&'static str, Value)],
    ) -> Result<Value, String> {
        let program = self.program(text)?;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut context = Context::default();
            for (name, value) in variables {
                context.add_variable_from_value(*name, convert::to_cel(value));
            }
            program.execute(&context)
        }));
        match outcome {
            Ok(Ok(value)) => convert::to_json(&value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("the expression could not be evaluated".into()),
        }
    }
}

/// The parser's first message line, without Rust debug formatting.
fn parse_message(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("syntax error");
    if line.contains("ParseError") {
        "syntax error".to_string()
    } else {
        line.to_string()
    }
}
