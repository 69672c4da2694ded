//! The one thread that parses and evaluates CEL, with a large stack.
//!
//! The `cel` crate's parser and evaluator recurse once per level of the syntax tree and need
//! far more stack per level in debug builds than a 2 MiB runtime worker thread has. Rather
//! than ask every caller for a big stack, the engine sends each job to this thread (started on
//! first use) and waits for the answer. It keeps up to [`CACHE_SIZE`] parsed programs, so
//! an expression is usually parsed once per process. Results never depend on the cache.

use super::convert;
use super::refs::{node_reads, NodeReads};
use super::Var;
use cel::common::types::CelNull;
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Program, Value as CelValue};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

/// A value in the interpreter's own form.
type Dyn = Box<dyn Val>;

/// Stack of the evaluator thread: the parser needs about 200 KB per nesting level in debug
/// builds, and expressions nest at most 32 levels.
const STACK: usize = 64 << 20;
/// Parsed programs kept; the cache is emptied when full.
const CACHE_SIZE: usize = 512;
/// Shared values kept converted ([`Var::Shared`]); the cache is emptied when full.
const SHARED_CACHE_SIZE: usize = 64;

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
        variables: Vec<(&'static str, Var)>,
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

pub(crate) fn evaluate(text: &str, variables: Vec<(&'static str, Var)>) -> Result<Value, Fault> {
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
    /// Shared values ([`Var::Shared`]) in the interpreter's form, by address. Each entry
    /// holds its `Arc`, so the address cannot be reused by another value while it exists.
    shared: HashMap<usize, (Arc<Value>, Dyn)>,
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

    fn evaluate(&mut self, text: &str, variables: &[(&'static str, Var)]) -> Result<Value, String> {
        self.program(text)?;
        self.cache_shared(variables);
        let program = self
            .programs
            .get(text)
            .ok_or_else(|| "the expression could not be parsed".to_string())?;
        let resolver = Resolver::new(variables, &self.shared);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut context = Context::default();
            context.set_variable_resolver(&resolver);
            for (name, value) in variables {
                // Maps are the resolver's.
                if let Var::Json(value) = value {
                    context.add_variable_from_value(*name, convert::to_cel(value));
                }
            }
            program.execute(&context)
        }));
        match outcome {
            Ok(Ok(value)) => convert::to_json(&value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("the expression could not be evaluated".into()),
        }
    }

    /// Converts the shared parts of `variables` not converted yet. The cache is emptied
    /// first when they would not fit, so every part this evaluation needs is in it.
    fn cache_shared(&mut self, variables: &[(&'static str, Var)]) {
        let mut needed = Vec::new();
        for (_, var) in variables {
            shared_parts(var, &mut needed);
        }
        let missing = needed
            .iter()
            .filter(|v| !self.shared.contains_key(&address(v)))
            .count();
        if missing > 0 && self.shared.len() + missing > SHARED_CACHE_SIZE {
            self.shared.clear();
        }
        for value in needed {
            self.shared
                .entry(address(value))
                .or_insert_with(|| (value.clone(), to_dyn(convert::to_cel(value))));
        }
    }
}

fn address(value: &Arc<Value>) -> usize {
    Arc::as_ptr(value) as usize
}

fn shared_parts<'a>(var: &'a Var, out: &mut Vec<&'a Arc<Value>>) {
    match var {
        Var::Json(_) => {}
        Var::Map(entries) => entries.iter().for_each(|(_, v)| shared_parts(v, out)),
        Var::Shared(value) => out.push(value),
    }
}

/// A CEL value in the interpreter's form (a JSON-derived value always converts).
fn to_dyn(value: CelValue) -> Dyn {
    value
        .try_into()
        .unwrap_or_else(|_| Box::new(CelNull) as Dyn)
}

/// A variable built from parts, in CEL form; shared parts are converted again (the slow
/// path, for an expression that reads a whole map variable).
fn var_to_cel(var: &Var) -> CelValue {
    match var {
        Var::Json(value) => convert::to_cel(value),
        Var::Map(entries) => {
            let map: HashMap<cel::objects::Key, CelValue> = entries
                .iter()
                .map(|(k, v)| {
                    (
                        cel::objects::Key::String(Arc::new(k.clone())),
                        var_to_cel(v),
                    )
                })
                .collect();
            CelValue::Map(cel::objects::Map { map: Arc::new(map) })
        }
        Var::Shared(value) => convert::to_cel(value),
    }
}

/// Serves the map variables (`nodes`) to the interpreter. The interpreter resolves a
/// qualified name by its longest known prefix, so `nodes.<id>.outputs.<name>` is answered
/// from the variable `nodes.<id>.outputs`: for an entry with shared parts (a finished
/// matrix's fan-in), each field is offered under its dotted name, the shared ones borrowed
/// from the cache — no copy per evaluation. Anything else (`nodes["x"]`, `has(nodes.x)`)
/// reads the whole map, built only then. Both give the same values.
struct Resolver<'a> {
    dotted: HashMap<String, Slot<'a>>,
    maps: Vec<(&'static str, &'a Var, OnceLock<Dyn>)>,
}

enum Slot<'a> {
    Borrowed(&'a dyn Val),
    Owned(Dyn),
}

impl<'a> Resolver<'a> {
    fn new(
        variables: &'a [(&'static str, Var)],
        shared: &'a HashMap<usize, (Arc<Value>, Dyn)>,
    ) -> Self {
        let mut dotted = HashMap::new();
        let mut maps = Vec::new();
        for (name, var) in variables {
            let Var::Map(entries) = var else {
                continue;
            };
            maps.push((*name, var, OnceLock::new()));
            for (key, entry) in entries {
                let Var::Map(fields) = entry else {
                    continue;
                };
                if !fields.iter().any(|(_, f)| matches!(f, Var::Shared(_))) {
                    continue;
                }
                for (field, value) in fields {
                    let slot = match value {
                        Var::Shared(v) => match shared.get(&address(v)) {
                            Some((_, converted)) => Slot::Borrowed(converted.as_ref()),
                            None => Slot::Owned(to_dyn(convert::to_cel(v))),
                        },
                        other => Slot::Owned(to_dyn(var_to_cel(other))),
                    };
                    dotted.insert(format!("{name}.{key}.{field}"), slot);
                }
            }
        }
        Resolver { dotted, maps }
    }
}

impl VariableResolver for Resolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        if let Some(slot) = self.dotted.get(variable) {
            return Some(CowVal::Borrowed(match slot {
                Slot::Borrowed(v) => *v,
                Slot::Owned(v) => v.as_ref(),
            }));
        }
        let (_, var, whole) = self.maps.iter().find(|(name, _, _)| *name == variable)?;
        let whole = whole.get_or_init(|| to_dyn(var_to_cel(var)));
        Some(CowVal::Borrowed(whole.as_ref()))
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
