//! Diagnostics: what the validator reports, and the catalogue of stable codes.
//!
//! Every finding has a stable code (`PS` + four digits). Codes are never reused
//! or renumbered; `docs/diagnostics.md` is generated from [`Code::ALL`] and a
//! test fails when the two drift apart.

use crate::source::Span;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted, but worth a look (legacy forms, unknown fields …). `--strict` makes it an error.
    Warning,
    /// The document is invalid.
    Error,
}

/// One finding, pointing into the sources.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the finding is; `None` for findings about an input as a whole (an unreadable file).
    pub span: Option<Span>,
    /// The field path inside the document, e.g. `spec.graph.nodes[3].id`.
    pub path: Option<String>,
    /// What to do about it, e.g. "did you mean `implement`?".
    pub hint: Option<String>,
    /// Other places that help explain the finding (the first occurrence of a duplicate …).
    pub related: Vec<Related>,
    /// The resource the finding is about, e.g. `Plan/release-v1`.
    pub resource: Option<String>,
    /// Index of that resource in [`crate::Report::resources`], set by the stage that checked it.
    pub resource_index: Option<usize>,
}

/// A secondary location of a diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub span: Span,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.default_severity(),
            message: message.into(),
            span: None,
            path: None,
            hint: None,
            related: Vec::new(),
            resource: None,
            resource_index: None,
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Related {
            span,
            message: message.into(),
        });
        self
    }

    /// Attributes the finding to resource `index` of the report, named `name` (`Plan/x`).
    pub fn for_resource(mut self, index: usize, name: impl Into<String>) -> Self {
        self.resource_index = Some(index);
        self.resource = Some(name.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

macro_rules! codes {
    ($( $variant:ident = $num:literal, $slug:literal, $sev:ident, $summary:literal; )*) => {
        /// A stable diagnostic code. See `docs/diagnostics.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( #[doc = $summary] $variant, )* }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed: `PS0302`.
            pub fn id(self) -> &'static str {
                match self { $( Code::$variant => concat!("PS", $num), )* }
            }

            /// A short kebab-case name: `missing-required-field`.
            pub fn slug(self) -> &'static str {
                match self { $( Code::$variant => $slug, )* }
            }

            /// The severity a finding with this code has unless `--strict` raises it.
            pub fn default_severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// One line on what the code means.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }
        }
    };
}

codes! {
    // PS00xx — reading input
    Syntax = "0001", "yaml-syntax", Error, "The input is not well-formed YAML or JSON.";
    DuplicateKey = "0002", "duplicate-key", Error, "A mapping repeats a key; the second occurrence is reported (often two documents concatenated without `---`).";
    FileTooLarge = "0003", "file-too-large", Error, "An input exceeds the size limit.";
    NestingTooDeep = "0004", "nesting-too-deep", Error, "Values are nested deeper than the limit.";
    TooManyDocuments = "0005", "too-many-documents", Error, "An input holds more documents than the limit.";
    AliasLimit = "0006", "alias-expansion-limit", Error, "Expanding YAML aliases would exceed the limit (billion-laughs protection).";
    UnsupportedKey = "0007", "unsupported-key", Error, "A mapping key is not a scalar.";
    Io = "0008", "io-error", Error, "An input could not be read.";
    NotUtf8 = "0009", "not-utf8", Error, "An input is not valid UTF-8.";
    UnknownTag = "0010", "unknown-tag", Warning, "A YAML tag is not understood and was ignored.";
    NoDocuments = "0011", "no-documents", Warning, "An input holds no documents.";

    // PS01xx — the envelope of a resource
    NotAnObject = "0101", "document-not-object", Error, "A document's top level is not a mapping.";
    MissingApiVersion = "0102", "missing-api-version", Error, "A resource has no `apiVersion`.";
    UnknownApiVersion = "0103", "unknown-api-version", Error, "`apiVersion` is not `planspec.io/v1alpha1`.";
    MissingKind = "0104", "missing-kind", Error, "A resource has no `kind`.";
    UnknownKind = "0105", "unknown-kind", Error, "`kind` is not a PlanSpec kind.";
    InvalidList = "0106", "invalid-list", Error, "A `kind: List` has no `items` array.";

    // PS02xx — legacy forms, read and normalised to the modern form
    LegacyCapabilityRef = "0201", "legacy-capability-ref", Warning, "Task uses singular `capabilityRef`; write `capabilityRefs: [{name}]`.";
    LegacyCapabilityNames = "0202", "legacy-capability-names", Warning, "Task uses `capabilities: [name]`; write `capabilityRefs: [{name}]`.";
    LegacyRequirementKey = "0203", "legacy-requirement-key", Warning, "Capability requirement uses key `capability`; write `name`.";
    LegacyDayDuration = "0204", "legacy-day-duration", Warning, "A duration uses days (`7d`); write hours (`168h`).";
    InlineGate = "0205", "inline-gate", Warning, "Gate node has no `gateRef`; it is read as an inline approval gate.";
    ManualExternal = "0206", "manual-external", Warning, "External node has no `externalRef`; it completes only when signalled.";
    DependsOnInInputs = "0207", "depends-on-in-inputs", Warning, "`inputs.depends_on` is not a dependency; use `dependsOn` or `edges`.";
    RedundantDependsOn = "0208", "redundant-depends-on", Warning, "`dependsOn` repeats an explicit edge; the duplicate is dropped.";
    LegacyOutputName = "0209", "legacy-output-name", Warning, "An output name is not `^[a-z][a-z0-9_]*$`; kept as an opaque label.";
    LegacyIntegerType = "0210", "legacy-integer-type", Warning, "Parameter `type: integer` is read as `number`.";
    LegacyPropertiesKey = "0211", "legacy-properties-key", Warning, "Parameter `properties` is read as `objectProperties`.";
    LegacyUnboundString = "0212", "legacy-unbound-string", Warning, "`unboundCapabilities` entry is a string; write `{capabilityRef: {name}}`.";
    LegacyArtifactUri = "0213", "legacy-artifact-uri", Warning, "Artifact uses `uri`; write `url`.";
    LegacyExternalRefKey = "0214", "legacy-external-ref-key", Warning, "External reference uses `resource`/`webhook`; write `resourceRef`/`webhookUrl`.";
    LegacyCriterionWebhook = "0215", "legacy-criterion-webhook", Warning, "Custom criterion uses `webhook`; write `webhookUrl`.";
    ProseCriterion = "0216", "prose-criterion", Warning, "Task acceptance criterion has only a description; it is read as a manual check.";
    LegacyGateTimeout = "0217", "legacy-gate-field", Warning, "Gate `spec.metadata` is not part of v1alpha1 and is ignored (`spec.timeout` was too, before Gates got timeouts).";
    OpaqueWhen = "0218", "opaque-when", Warning, "`when` is not a valid CEL expression; it is kept as an opaque label and never evaluated.";
    LeadingDigitName = "0219", "leading-digit-name", Warning, "A name starts with a digit; accepted on read, but write names that start with a letter.";
    MixedLegacyForms = "0220", "conflicting-legacy-forms", Error, "A legacy and a modern form of the same field disagree.";
    LegacyGatePhase = "0221", "legacy-gate-phase", Warning, "Gate phase `ChangesRequested` or `Expired` is from an older design; it is read as `Waiting`.";

    // PS03xx — schema: types, required fields, formats, enums
    WrongType = "0301", "wrong-type", Error, "A value has the wrong type.";
    MissingField = "0302", "missing-required-field", Error, "A required field is missing.";
    UnknownField = "0303", "unknown-field", Warning, "A field is not part of the schema (an error with `--strict`).";
    FieldNotAllowed = "0304", "field-not-allowed", Error, "A field belongs to another node kind or variant and is not allowed here.";
    InvalidEnum = "0305", "invalid-enum-value", Error, "A value is not one of the allowed values.";
    InvalidDnsLabel = "0306", "invalid-dns-label", Error, "A name is not a DNS label (lowercase letters, digits, `-`, at most 63).";
    InvalidLabelKey = "0307", "invalid-label-key", Error, "A label or annotation key is not a qualified name.";
    InvalidLabelValue = "0308", "invalid-label-value", Error, "A label value is not valid.";
    InvalidDuration = "0309", "invalid-duration", Error, "A duration is not in Go form (`90s`, `1h30m`).";
    InvalidTimestamp = "0310", "invalid-timestamp", Error, "A timestamp is not RFC 3339.";
    PatternMismatch = "0311", "pattern-mismatch", Error, "A string does not match the required pattern.";
    InvalidLength = "0312", "invalid-length", Error, "A string is too short or too long.";
    OutOfRange = "0313", "out-of-range", Error, "A number is outside the allowed range.";
    InvalidItemCount = "0314", "invalid-item-count", Error, "A list or map has too few or too many entries.";
    DuplicateItem = "0315", "duplicate-item", Error, "A list that must hold unique items repeats one.";
    InvalidFormat = "0316", "invalid-format", Error, "A string is not a valid URI, e-mail, digest or other format.";
    AmbiguousShape = "0317", "no-matching-shape", Error, "A value matches none (or several) of the allowed shapes.";
    DependentField = "0318", "dependent-field", Error, "Fields that must appear together (or never together) do not.";
    ServerOwnedField = "0319", "server-owned-field", Warning, "A field is set by the server and will be ignored on write.";
    InvalidRegex = "0320", "invalid-regex", Error, "A field that holds a regular expression does not compile.";
    InvalidConstValue = "0321", "invalid-constant", Error, "A field must have one fixed value.";

    // PS04xx — the graph and other rules inside one resource
    DuplicateNodeId = "0401", "duplicate-node-id", Error, "Two nodes share an id.";
    UnknownEdgeNode = "0402", "unknown-edge-node", Error, "An edge names a node that does not exist.";
    UnknownDependsOn = "0403", "unknown-depends-on", Error, "`dependsOn` names a node that does not exist.";
    UnknownGroupChild = "0404", "unknown-group-child", Error, "A Group's `children` names a node that does not exist.";
    SelfLoop = "0405", "self-loop", Error, "An edge or `dependsOn` makes a node depend on itself.";
    Cycle = "0406", "cycle", Error, "The graph has a cycle; the path is reported at the edge that closes it.";
    DuplicateEdge = "0407", "duplicate-edge", Warning, "The same edge is declared twice.";
    DuplicateOutput = "0408", "duplicate-output", Error, "A node declares the same output twice.";
    DuplicateCriterion = "0409", "duplicate-criterion", Error, "Two acceptance criteria share an id or name.";
    GateStatusInvariant = "0410", "gate-status-invariant", Error, "A Gate's status breaks an invariant (resolution, phase and decidedGeneration must agree).";
    DeprecatedWithoutReplacement = "0411", "deprecated-without-replacement", Error, "A Deprecated Capability names neither a replacement nor a message.";
    ReservedInputKey = "0412", "reserved-input-key", Error, "An input key starts with `_`, which is reserved.";
    SelectorValues = "0413", "selector-values", Error, "`In`/`NotIn` need `values`; `Exists`/`DoesNotExist` forbid them.";
    DuplicateParameter = "0414", "duplicate-parameter", Error, "A Capability declares two inputs or outputs of the same name.";
    GroupNested = "0415", "group-child-conflict", Error, "A node is a child of two Groups, or a Group contains itself.";
    UnsupportedParameterKeyword = "0416", "parameter-keyword-mismatch", Error, "`format`, `itemType` or `objectProperties` does not fit the parameter's `type`.";
    DuplicateRequirement = "0417", "duplicate-requirement", Warning, "A Capability lists the same requirement twice.";
    DuplicateBindingRule = "0418", "binding-rule-never-applies", Warning, "A Binding rule can never apply: an earlier or higher-priority rule has the same selector.";
    ProviderImplementation = "0419", "provider-implementation", Error, "A Provider's implementation does not fit its `type` (`exec` needs `spec.exec`, `http` needs `spec.http`, a shell command is one script, only `POST`), or a secret reference is malformed.";
    MatrixAxisSource = "0420", "matrix-axis-source", Error, "A matrix axis gives none, or more than one, of `values`, `parameter` and `fromOutput`.";
    MatrixAxisDuplicate = "0421", "matrix-axis-duplicate", Error, "Two axes of a matrix share a name.";
    MatrixUnknownKey = "0422", "matrix-unknown-key", Error, "An `include` or `exclude` entry of a matrix names a key that is not an axis.";
    MatrixFromOutputNode = "0423", "matrix-from-output-node", Error, "A matrix axis's `fromOutput` names a node that does not exist or is not upstream of the Task.";
    MatrixFromOutputUndeclared = "0424", "matrix-from-output-undeclared", Error, "A matrix axis's `fromOutput` reads an output its node does not declare.";
    MatrixAxisEmpty = "0425", "matrix-axis-empty", Error, "A matrix axis lists no values, so the Task would never run.";
    MatrixOnFinally = "0426", "matrix-on-finally", Error, "A `finally` Task has a matrix; an exit handler runs once.";
    MatrixReadOutside = "0427", "matrix-read-outside", Warning, "An expression reads `matrix.<axis>` in a node without a matrix; it fails when it runs.";
    MatrixTooLarge = "0428", "matrix-too-large", Warning, "A matrix of literal axes has more combinations than the default instance limit (10,000); the run fails with `plan_expansion_limit` unless the server allows more.";
    GraphAndSteps = "0430", "graph-and-steps", Error, "A Plan gives both `spec.graph` and `spec.steps`; give exactly one.";
    StepDependsOn = "0431", "step-depends-on", Error, "A step in `spec.steps` declares `dependsOn`; each step depends on the one before it.";
    GroupStep = "0432", "group-step", Error, "A Group is listed in `spec.steps`; steps run one after another, so Groups have no place there (use `spec.graph`).";
    SoftEdgeCondition = "0433", "soft-edge-condition", Error, "A `soft` edge names an outcome other than `always` in `on`; a soft edge only orders, so the two contradict each other.";
    FinallyDependency = "0434", "finally-dependency", Error, "A `finally` Task depends on a node that is not `finally`, or a node that is not `finally` depends on one (in `spec.steps`: a step after a `finally` Task).";
    PlaceholderSchemaInvalid = "0445", "placeholder-schema-invalid", Error, "A Placeholder's `schema` is not a usable JSON Schema (it does not compile, or a `$ref` points outside it).";
    PlaceholderRuleInvalid = "0446", "placeholder-rule-invalid", Error, "A Placeholder's rule does not parse as CEL, or reads something other than `value`, `parameters`, `nodes`, `goal`, `plan` and `execution`.";
    PlaceholderSelectorKind = "0447", "placeholder-selector-kind", Error, "A Placeholder's `selector.kind` is not a kind it may read (Goal, Plan, Capability, Binding).";
    PlaceholderSelectorType = "0448", "placeholder-selector-type", Error, "A Placeholder's selector does not fit its `type`: a `data` placeholder's selector must name a `kind`; a `capability`/`plan` placeholder's must list Capabilities/Plans.";
    PlanRefTarget = "0440", "plan-ref-target", Error, "A `Plan` node's `planRef` must name exactly one of `name` and `series`, and gives a `version` range only with `series`.";
    PlanRefVersion = "0441", "plan-ref-version", Error, "A `Plan` node's `planRef.version` is not a semver range (`^2`, `~1.4`, `>=1.2, <2`).";
    ConcurrencyKeyEmpty = "0450", "concurrency-key-empty", Error, "A Task's `concurrency.key` is empty once trimmed.";
    ConcurrencyKeyExpression = "0451", "concurrency-key-expression", Error, "A `${{ }}` in a Task's `concurrency.key` is not closed, does not parse as CEL, or reads a variable the key cannot read (`matrix` only in a Task with a matrix).";
    ConcurrencyKeyReads = "0452", "concurrency-key-reads", Error, "A Task's `concurrency.key` reads a node that is not upstream of the Task (or not in the plan); the key is evaluated just before the Task dispatches.";

    // PS05xx — across resources validated together
    UnresolvedReference = "0501", "unresolved-reference", Warning, "A reference names a resource that is not in the validated set.";
    WrongReferenceKind = "0502", "reference-kind-mismatch", Error, "A reference's `kind` does not fit the field.";
    BindingConflict = "0503", "binding-conflict", Error, "Two Binding rules select the same thing at the same precedence with different targets.";
    CapabilityCycle = "0504", "capability-requirement-cycle", Error, "Capability requirements form a cycle.";
    DuplicateResource = "0505", "duplicate-resource", Error, "The same kind, namespace and name is defined twice.";
    GateTargetMismatch = "0506", "gate-target-mismatch", Warning, "A Gate node's Gate resource targets a different plan or node.";
    UnknownNodeReference = "0507", "unknown-node-reference", Error, "A Binding rule or Execution names a node that its plan does not have.";
    PlanGoalMismatch = "0508", "plan-goal-label-mismatch", Warning, "A Plan's `planspec.io/goal` label disagrees with its `goalRef`.";
    UnboundNode = "0509", "unbound-node", Warning, "A Task node of an Execution's plan matches no rule of the Binding that the Execution uses.";
    SubplanCycle = "0510", "subplan-cycle", Error, "Plans validated together run each other through `Plan` nodes (A runs B runs A, or A runs itself); the path is reported at the `planRef` that closes the cycle.";

    // PS09xx — internal
    Internal = "0901", "internal-error", Error, "An internal inconsistency; please report it with the input.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_slugs_are_unique() {
        let ids: HashSet<_> = Code::ALL.iter().map(|c| c.id()).collect();
        let slugs: HashSet<_> = Code::ALL.iter().map(|c| c.slug()).collect();
        assert_eq!(ids.len(), Code::ALL.len());
        assert_eq!(slugs.len(), Code::ALL.len());
    }
}
