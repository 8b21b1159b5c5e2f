//! The seventeen MCP tools: names, descriptions, input schemas, argument checks, and the memory
//! operation each one runs.

use crate::gateway::Session;
use crate::memory::{Memory, MemoryError, NewEntity, NewEpisode, NewSkill, Origin, Relation};
use crate::time::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::fmt::Display;
use std::ops::RangeInclusive;
use t4dm_trace_runtime::trace_span;

macro_rules! tools {
    ($($variant:ident = $name:literal: $description:literal;)*) => {
        /// One of the gateway's tools.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Tool {
            $(#[doc = $description] $variant,)*
        }

        impl Tool {
            /// Every tool, in the order `tools/list` gives them.
            pub const ALL: &'static [Tool] = &[$(Tool::$variant,)*];

            /// The name clients call it by.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $(Tool::$variant => $name,)*
                }
            }

            /// The name of its SERVER span, `mcp.<tool>` as the seed has it.
            #[must_use]
            pub fn span_name(self) -> &'static str {
                match self {
                    $(Tool::$variant => concat!("mcp.", $name),)*
                }
            }

            /// What it does, for the client's model.
            #[must_use]
            pub fn description(self) -> &'static str {
                match self {
                    $(Tool::$variant => $description,)*
                }
            }

            /// The tool called `name`.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Tool> {
                match name {
                    $($name => Some(Tool::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

tools! {
    CreateEpisode = "create_episode":
        "Store an episode: something that happened, with optional context and importance.";
    RecallEpisodes = "recall_episodes":
        "Recall the episodes most similar to a query, ranked by similarity, importance and recency.";
    QueryAtTime = "query_at_time":
        "List the episodes that had been stored at a point in time, newest first.";
    MarkImportant = "mark_important":
        "Set how important an episode is; recall ranks important episodes higher.";
    CreateEntity = "create_entity":
        "Store a semantic entity (a person, place or concept) with a fact about it.";
    CreateRelation = "create_relation":
        "Relate two stored memories with a typed, weighted relation.";
    SemanticRecall = "semantic_recall":
        "Recall the current entities most similar to a query, with their relations.";
    SpreadActivation = "spread_activation":
        "Spread activation from seed memories along relations and list what it reaches.";
    SupersedeFact = "supersede_fact":
        "Replace an entity's fact with a new one; the old fact is kept for provenance.";
    CreateSkill = "create_skill":
        "Store a skill: a named list of steps, where {name} marks a parameter.";
    RecallSkill = "recall_skill":
        "Recall the active skills most similar to a query.";
    ExecuteSkill = "execute_skill":
        "Execute a skill: return its steps with the given parameters filled in.";
    DeprecateSkill = "deprecate_skill":
        "Deprecate a skill, optionally naming its replacement.";
    ConsolidateNow = "consolidate_now":
        "Consolidate similar episodes into semantic entities now.";
    GetProvenance = "get_provenance":
        "Tell where a memory came from: its session, tool, time and derivations.";
    GetSessionId = "get_session_id":
        "Return this MCP session's id.";
    MemoryStats = "memory_stats":
        "Count the episodes, entities, skills and relations stored.";
}

/// Why a tool call has no result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolError {
    /// The arguments do not match the tool's schema: a JSON-RPC `-32602` error.
    InvalidArguments(String),
    /// The tool ran and failed: a result with `isError: true`.
    Failed(MemoryError),
}

impl From<MemoryError> for ToolError {
    fn from(error: MemoryError) -> Self {
        ToolError::Failed(error)
    }
}

const LIMITS: RangeInclusive<usize> = 1..=100;
const FRACTION: RangeInclusive<f64> = 0.0..=1.0;

fn default_importance() -> f64 {
    0.5
}
fn default_limit() -> usize {
    10
}
fn default_skill_limit() -> usize {
    5
}
fn one() -> f64 {
    1.0
}
fn default_entity_type() -> String {
    "concept".to_owned()
}
fn default_hops() -> usize {
    2
}
fn default_decay() -> f64 {
    0.5
}
fn default_threshold() -> f64 {
    0.1
}
fn default_cluster_size() -> usize {
    2
}
fn default_similarity() -> f64 {
    0.3
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEpisode {
    content: String,
    #[serde(default)]
    context: Map<String, Value>,
    #[serde(default = "default_importance")]
    importance: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recall {
    query: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallSkill {
    query: String,
    #[serde(default = "default_skill_limit")]
    limit: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryAtTime {
    timestamp: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkImportant {
    episode_id: String,
    #[serde(default = "one")]
    importance: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEntity {
    name: String,
    #[serde(default = "default_entity_type")]
    entity_type: String,
    #[serde(default)]
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRelation {
    source_id: String,
    target_id: String,
    relation_type: String,
    #[serde(default = "one")]
    weight: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpreadActivation {
    seed_ids: Vec<String>,
    #[serde(default = "default_hops")]
    max_hops: usize,
    #[serde(default = "default_decay")]
    decay: f64,
    #[serde(default = "default_threshold")]
    threshold: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupersedeFact {
    entity_id: String,
    new_summary: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSkill {
    name: String,
    #[serde(default)]
    description: String,
    steps: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecuteSkill {
    skill_id: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeprecateSkill {
    skill_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    replacement_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsolidateNow {
    #[serde(default = "default_cluster_size")]
    min_cluster_size: usize,
    #[serde(default = "default_similarity")]
    similarity_threshold: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetProvenance {
    memory_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

impl Tool {
    /// The JSON Schema of its `arguments`.
    #[must_use]
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per tool reads best as one table"
    )]
    pub fn input_schema(self) -> Value {
        let text = |description: &str| json!({ "type": "string", "minLength": 1, "description": description });
        let fraction = |description: &str, default: f64| json!({ "type": "number", "minimum": 0, "maximum": 1, "default": default, "description": description });
        let limit = |default: usize| json!({ "type": "integer", "minimum": LIMITS.start(), "maximum": LIMITS.end(), "default": default, "description": "The most results to return." });
        let object = |properties: Value, required: &[&str]| json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false });
        match self {
            Tool::CreateEpisode => object(
                json!({
                    "content": text("What happened."),
                    "context": { "type": "object", "description": "Where, with whom, about what: any JSON object." },
                    "importance": fraction("From 0 (trivial) to 1 (vital).", default_importance()),
                }),
                &["content"],
            ),
            Tool::RecallEpisodes | Tool::SemanticRecall => object(
                json!({ "query": text("What to recall."), "limit": limit(default_limit()) }),
                &["query"],
            ),
            Tool::QueryAtTime => object(
                json!({
                    "timestamp": { "type": "string", "format": "date-time", "description": "An RFC 3339 time, such as 2025-06-18T09:30:00Z." },
                    "limit": limit(default_limit()),
                }),
                &["timestamp"],
            ),
            Tool::MarkImportant => object(
                json!({ "episode_id": text("The episode."), "importance": fraction("The new importance.", one()) }),
                &["episode_id"],
            ),
            Tool::CreateEntity => object(
                json!({
                    "name": text("What the entity is called."),
                    "entity_type": { "type": "string", "default": default_entity_type(), "description": "person, place, concept, ..." },
                    "summary": { "type": "string", "description": "The fact to hold about it." },
                }),
                &["name"],
            ),
            Tool::CreateRelation => object(
                json!({
                    "source_id": text("The memory the relation starts from."),
                    "target_id": text("The memory it points to."),
                    "relation_type": text("Such as KNOWS or WORKS_AT."),
                    "weight": fraction("How much activation the relation carries.", one()),
                }),
                &["source_id", "target_id", "relation_type"],
            ),
            Tool::SpreadActivation => object(
                json!({
                    "seed_ids": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "The memories to start from." },
                    "max_hops": { "type": "integer", "minimum": 1, "maximum": 5, "default": default_hops(), "description": "Relations to walk at most." },
                    "decay": fraction("The share of activation passed on at each hop.", default_decay()),
                    "threshold": fraction("The least activation that is reported and passed on.", default_threshold()),
                }),
                &["seed_ids"],
            ),
            Tool::SupersedeFact => object(
                json!({
                    "entity_id": text("The entity whose fact changed."),
                    "new_summary": text("The new fact."),
                    "reason": { "type": "string", "description": "Why it changed." },
                }),
                &["entity_id", "new_summary"],
            ),
            Tool::CreateSkill => object(
                json!({
                    "name": text("What the skill is called."),
                    "description": { "type": "string", "description": "What it achieves." },
                    "steps": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "The steps in order; {name} marks a parameter." },
                }),
                &["name", "steps"],
            ),
            Tool::RecallSkill => object(
                json!({ "query": text("What the skill should do."), "limit": limit(default_skill_limit()) }),
                &["query"],
            ),
            Tool::ExecuteSkill => object(
                json!({
                    "skill_id": text("The skill."),
                    "parameters": { "type": "object", "description": "A value for each {name} in the steps." },
                }),
                &["skill_id"],
            ),
            Tool::DeprecateSkill => object(
                json!({
                    "skill_id": text("The skill."),
                    "reason": { "type": "string", "description": "Why it should no longer be used." },
                    "replacement_id": { "type": "string", "description": "The skill to use instead." },
                }),
                &["skill_id"],
            ),
            Tool::ConsolidateNow => object(
                json!({
                    "min_cluster_size": { "type": "integer", "minimum": 1, "maximum": 1000, "default": default_cluster_size(), "description": "The fewest similar episodes that make an entity." },
                    "similarity_threshold": fraction("How similar episodes must be to group.", default_similarity()),
                }),
                &[],
            ),
            Tool::GetProvenance => object(
                json!({ "memory_id": text("Any memory's id.") }),
                &["memory_id"],
            ),
            Tool::GetSessionId | Tool::MemoryStats => object(json!({}), &[]),
        }
    }

    /// The entry `tools/list` gives for it.
    #[must_use]
    pub fn listing(self) -> Value {
        json!({
            "name": self.name(),
            "description": self.description(),
            "inputSchema": self.input_schema(),
        })
    }

    /// Checks `arguments`, runs the tool, and formats its result as MCP's `CallToolResult`.
    ///
    /// # Errors
    ///
    /// [`ToolError::InvalidArguments`] when the arguments do not fit the schema,
    /// [`ToolError::Failed`] when the memory operation failed.
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per tool reads best as one table"
    )]
    pub async fn call(
        self,
        memory: &Memory,
        session: &Session,
        arguments: Map<String, Value>,
    ) -> Result<Value, ToolError> {
        let origin = || Origin {
            session_id: session.id().to_owned(),
            tool: self.name(),
        };
        Ok(match self {
            Tool::CreateEpisode => {
                let args: CreateEpisode = parse(arguments)?;
                let episode = NewEpisode {
                    content: non_empty("content", args.content)?,
                    context: args.context,
                    importance: within("importance", args.importance, FRACTION)?,
                };
                respond(&memory.episodic.create(episode, &origin()).await)
            }
            Tool::RecallEpisodes => {
                let args: Recall = parse(arguments)?;
                let query = non_empty("query", args.query)?;
                let limit = within("limit", args.limit, LIMITS)?;
                respond_named("episodes", &memory.episodic.recall(&query, limit).await)
            }
            Tool::QueryAtTime => {
                let args: QueryAtTime = parse(arguments)?;
                let at = Timestamp::parse_rfc3339(&args.timestamp).map_err(|message| {
                    ToolError::InvalidArguments(format!("`timestamp`: {message}"))
                })?;
                let limit = within("limit", args.limit, LIMITS)?;
                respond_named("episodes", &memory.episodic.query_at_time(at, limit).await)
            }
            Tool::MarkImportant => {
                let args: MarkImportant = parse(arguments)?;
                let id = non_empty("episode_id", args.episode_id)?;
                let importance = within("importance", args.importance, FRACTION)?;
                respond(&memory.episodic.mark_important(&id, importance).await?)
            }
            Tool::CreateEntity => {
                let args: CreateEntity = parse(arguments)?;
                let entity = NewEntity {
                    name: non_empty("name", args.name)?,
                    entity_type: non_empty("entity_type", args.entity_type)?,
                    summary: args.summary,
                };
                respond(&memory.semantic.create_entity(entity, &origin()).await)
            }
            Tool::CreateRelation => {
                let args: CreateRelation = parse(arguments)?;
                let relation = Relation {
                    source_id: non_empty("source_id", args.source_id)?,
                    target_id: non_empty("target_id", args.target_id)?,
                    relation_type: non_empty("relation_type", args.relation_type)?,
                    weight: within("weight", args.weight, FRACTION)?,
                };
                respond(&memory.semantic.create_relation(relation).await?)
            }
            Tool::SemanticRecall => {
                let args: Recall = parse(arguments)?;
                let query = non_empty("query", args.query)?;
                let limit = within("limit", args.limit, LIMITS)?;
                respond_named("entities", &memory.semantic.recall(&query, limit).await)
            }
            Tool::SpreadActivation => {
                let args: SpreadActivation = parse(arguments)?;
                if args.seed_ids.is_empty() {
                    return Err(ToolError::InvalidArguments(
                        "`seed_ids` must name at least one memory".to_owned(),
                    ));
                }
                let max_hops = within("max_hops", args.max_hops, 1..=5)?;
                let decay = within("decay", args.decay, FRACTION)?;
                let threshold = within("threshold", args.threshold, FRACTION)?;
                let reached = memory
                    .semantic
                    .spread_activation(&args.seed_ids, max_hops, decay, threshold)
                    .await?;
                respond_named("activated", &reached)
            }
            Tool::SupersedeFact => {
                let args: SupersedeFact = parse(arguments)?;
                let id = non_empty("entity_id", args.entity_id)?;
                let summary = non_empty("new_summary", args.new_summary)?;
                let change = memory
                    .semantic
                    .supersede_fact(&id, summary, args.reason, &origin())
                    .await?;
                respond(&change)
            }
            Tool::CreateSkill => {
                let args: CreateSkill = parse(arguments)?;
                if args.steps.is_empty() {
                    return Err(ToolError::InvalidArguments(
                        "`steps` must list at least one step".to_owned(),
                    ));
                }
                let skill = NewSkill {
                    name: non_empty("name", args.name)?,
                    description: args.description,
                    steps: args.steps,
                };
                respond(&memory.procedural.create_skill(skill, &origin()).await)
            }
            Tool::RecallSkill => {
                let args: RecallSkill = parse(arguments)?;
                let query = non_empty("query", args.query)?;
                let limit = within("limit", args.limit, LIMITS)?;
                respond_named(
                    "skills",
                    &memory.procedural.recall_skill(&query, limit).await,
                )
            }
            Tool::ExecuteSkill => {
                let args: ExecuteSkill = parse(arguments)?;
                let id = non_empty("skill_id", args.skill_id)?;
                respond(
                    &memory
                        .procedural
                        .execute_skill(&id, &args.parameters)
                        .await?,
                )
            }
            Tool::DeprecateSkill => {
                let args: DeprecateSkill = parse(arguments)?;
                let id = non_empty("skill_id", args.skill_id)?;
                let skill = memory
                    .procedural
                    .deprecate_skill(&id, args.reason, args.replacement_id)
                    .await?;
                respond(&skill)
            }
            Tool::ConsolidateNow => {
                let args: ConsolidateNow = parse(arguments)?;
                let min_cluster_size = within("min_cluster_size", args.min_cluster_size, 1..=1000)?;
                let threshold =
                    within("similarity_threshold", args.similarity_threshold, FRACTION)?;
                let done = memory
                    .episodic
                    .consolidate(&memory.semantic, min_cluster_size, threshold, &origin())
                    .await;
                respond(&done)
            }
            Tool::GetProvenance => {
                let args: GetProvenance = parse(arguments)?;
                let id = non_empty("memory_id", args.memory_id)?;
                respond(&memory.provenance(&id).await?)
            }
            Tool::GetSessionId => {
                let NoArguments {} = parse(arguments)?;
                respond(&json!({
                    "session_id": session.id(),
                    "transport": session.transport().name(),
                    "protocol_version": session.protocol_version(),
                }))
            }
            Tool::MemoryStats => {
                let NoArguments {} = parse(arguments)?;
                respond(&memory.stats().await)
            }
        })
    }
}

/// The `CallToolResult` of a failed tool: the message as text, flagged `isError`.
#[must_use]
pub fn error_result(message: &str) -> Value {
    trace_span("response_formatting")
        .in_scope(|| json!({ "content": [{ "type": "text", "text": message }], "isError": true }))
}

fn parse<T: DeserializeOwned>(arguments: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|error| ToolError::InvalidArguments(error.to_string()))
}

fn non_empty(name: &str, text: String) -> Result<String, ToolError> {
    if text.trim().is_empty() {
        Err(ToolError::InvalidArguments(format!(
            "`{name}` must not be empty"
        )))
    } else {
        Ok(text)
    }
}

fn within<T: PartialOrd + Display>(
    name: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ToolError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ToolError::InvalidArguments(format!(
            "`{name}` must be from {} to {}, not {value}",
            range.start(),
            range.end()
        )))
    }
}

/// The `CallToolResult` of a result that serialises to an object: the object as
/// `structuredContent`, and as JSON text for clients that read only `content`.
fn respond<T: Serialize>(result: &T) -> Value {
    trace_span("response_formatting").in_scope(|| match serde_json::to_value(result) {
        Ok(structured) => call_tool_result(structured),
        Err(error) => json!({
            "content": [{ "type": "text", "text": format!("cannot format the result: {error}") }],
            "isError": true,
        }),
    })
}

/// As [`respond`], for a list: `structuredContent` must be an object, so the list is named.
fn respond_named<T: Serialize>(name: &str, items: &[T]) -> Value {
    trace_span("response_formatting").in_scope(|| match serde_json::to_value(items) {
        Ok(list) => {
            let mut structured = Map::new();
            structured.insert(name.to_owned(), list);
            call_tool_result(Value::Object(structured))
        }
        Err(error) => json!({
            "content": [{ "type": "text", "text": format!("cannot format the result: {error}") }],
            "isError": true,
        }),
    })
}

fn call_tool_result(structured: Value) -> Value {
    let text = structured.to_string();
    let mut result = Map::new();
    result.insert(
        "content".to_owned(),
        json!([{ "type": "text", "text": text }]),
    );
    result.insert("structuredContent".to_owned(), structured);
    result.insert("isError".to_owned(), Value::from(false));
    Value::Object(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventeen_tools_with_object_schemas_and_seed_span_names() {
        assert_eq!(Tool::ALL.len(), 17);
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(*tool));
            assert_eq!(tool.span_name(), format!("mcp.{}", tool.name()));
            let schema = tool.input_schema();
            assert_eq!(schema["type"], "object", "{}", tool.name());
            for required in schema["required"].as_array().unwrap() {
                let name = required.as_str().unwrap();
                assert!(
                    schema["properties"].get(name).is_some(),
                    "{}: {name}",
                    tool.name()
                );
            }
        }
        assert_eq!(Tool::from_name("forget_everything"), None);
    }

    #[test]
    fn argument_checks_name_the_argument() {
        let message = |error: ToolError| match error {
            ToolError::InvalidArguments(message) => message,
            ToolError::Failed(error) => panic!("{error}"),
        };
        assert_eq!(
            message(within("limit", 0, LIMITS).unwrap_err()),
            "`limit` must be from 1 to 100, not 0"
        );
        assert_eq!(
            message(non_empty("query", " ".to_owned()).unwrap_err()),
            "`query` must not be empty"
        );
        let missing = parse::<Recall>(Map::new()).map(|_| ()).unwrap_err();
        assert_eq!(message(missing), "missing field `query`");
    }
}
