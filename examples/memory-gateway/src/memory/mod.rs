//! The memory services: episodic (what happened), semantic (what is known) and procedural (how
//! to do things), over the shared storage adapters. Each public method is an INTERNAL span.

mod episodic;
mod procedural;
mod semantic;

pub use episodic::{
    ConsolidatedCluster, Consolidation, Episode, EpisodicMemory, NewEpisode, RecalledEpisode,
};
pub use procedural::{NewSkill, ProceduralMemory, RecalledSkill, Skill, SkillRun};
pub use semantic::{
    Activation, Entity, NewEntity, RecalledEntity, RelatedEntity, Relation, SemanticMemory,
    Supersession,
};

use crate::storage::{GraphQuery, Node, T4DXGraphAdapter};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use t4dm_trace_runtime::traced;

/// Why a memory operation could not be done. Shown to the MCP client as a tool error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// No memory of that kind has that id.
    #[error("no {kind} with id `{id}`")]
    NotFound {
        /// `episode`, `entity`, `skill` or `memory`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The fact was already replaced by a newer one.
    #[error("entity `{id}` was already superseded by `{by}`")]
    AlreadySuperseded {
        /// The superseded entity.
        id: String,
        /// The entity that replaced it.
        by: String,
    },
    /// The skill is deprecated and can no longer be executed or deprecated again.
    #[error("skill `{id}` is deprecated: {reason}")]
    Deprecated {
        /// The skill.
        id: String,
        /// Why it was deprecated.
        reason: String,
    },
    /// A step of the skill names a parameter the caller did not give.
    #[error("skill `{id}` needs the parameter `{parameter}`")]
    MissingParameter {
        /// The skill.
        id: String,
        /// The parameter named in a step as `{parameter}`.
        parameter: String,
    },
}

/// Who asked for a memory to be stored: kept on every node for `get_provenance`.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The MCP session.
    pub session_id: String,
    /// The tool that created the memory.
    pub tool: &'static str,
}

impl Origin {
    fn properties(&self) -> Map<String, Value> {
        let mut properties = Map::new();
        properties.insert("session_id".to_owned(), self.session_id.clone().into());
        properties.insert("source".to_owned(), self.tool.into());
        properties
    }
}

/// Readable, unique ids: `episode-1`, `entity-2`, ...
#[derive(Debug)]
struct IdSequence {
    prefix: &'static str,
    next: AtomicU64,
}

impl IdSequence {
    fn new(prefix: &'static str) -> Self {
        IdSequence {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Rounds a score for display: four decimals are plenty, and `f32` noise is not.
fn round(score: f64) -> f64 {
    (score * 10_000.0).round() / 10_000.0
}

/// Candidates less similar than this to the query are not memories of it.
const MIN_SIMILARITY: f32 = 0.1;

/// What `get_provenance` tells about one memory.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// The memory's id.
    pub id: String,
    /// `Episode`, `Entity` or `Skill`.
    pub kind: &'static str,
    /// When it was stored.
    pub created_at: String,
    /// The MCP session that stored it.
    pub session_id: String,
    /// The tool that stored it.
    pub source: String,
    /// Every property it carries.
    pub properties: Map<String, Value>,
    /// Relationships from it to other memories (`SUPERSEDES`, `DERIVED_FROM`, ...).
    pub outgoing: Vec<Link>,
    /// Relationships from other memories to it.
    pub incoming: Vec<Link>,
}

/// One end of a relationship, seen from the memory asked about.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// The relationship type.
    pub relation: String,
    /// The memory at the other end.
    pub id: String,
}

/// What `memory_stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Episodes stored.
    pub episodes: usize,
    /// Semantic entities, current and superseded.
    pub entities: usize,
    /// Skills, active and deprecated.
    pub skills: usize,
    /// Relationships by type.
    pub relationships: BTreeMap<String, usize>,
}

/// The three memory services over one graph.
#[derive(Debug)]
pub struct Memory {
    /// Episodes.
    pub episodic: EpisodicMemory,
    /// Entities, facts and their relations.
    pub semantic: SemanticMemory,
    /// Skills.
    pub procedural: ProceduralMemory,
    graph: Arc<T4DXGraphAdapter>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl Memory {
    /// Empty memory.
    #[must_use]
    pub fn new() -> Self {
        let graph = Arc::new(T4DXGraphAdapter::new());
        Memory {
            episodic: EpisodicMemory::new(Arc::clone(&graph)),
            semantic: SemanticMemory::new(Arc::clone(&graph)),
            procedural: ProceduralMemory::new(Arc::clone(&graph)),
            graph,
        }
    }

    /// Where a memory came from, and what it is related to.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when no memory has that id.
    #[traced("memory.provenance")]
    pub async fn provenance(&self, id: &str) -> Result<Provenance, MemoryError> {
        let found = self
            .graph
            .query(GraphQuery::Node { id: id.to_owned() })
            .await;
        let Some(node) = found.nodes.first() else {
            return Err(MemoryError::NotFound {
                kind: "memory",
                id: id.to_owned(),
            });
        };
        let link = |relation: &str, other: &str| Link {
            relation: relation.to_owned(),
            id: other.to_owned(),
        };
        Ok(Provenance {
            id: node.id.clone(),
            kind: node.label,
            created_at: node.created_at.to_string(),
            session_id: node.text("session_id").to_owned(),
            source: node.text("source").to_owned(),
            properties: node.properties.clone(),
            outgoing: found
                .edges
                .iter()
                .filter(|edge| edge.from == id)
                .map(|edge| link(&edge.relation, &edge.to))
                .collect(),
            incoming: found
                .edges
                .iter()
                .filter(|edge| edge.to == id)
                .map(|edge| link(&edge.relation, &edge.from))
                .collect(),
        })
    }

    /// How much is stored.
    #[traced("memory.stats")]
    pub async fn stats(&self) -> Stats {
        let mut counts = self.graph.query(GraphQuery::Counts).await.counts;
        let mut take = |label: &str| counts.remove(label).unwrap_or(0);
        Stats {
            episodes: take(episodic::LABEL),
            entities: take(semantic::LABEL),
            skills: take(procedural::LABEL),
            relationships: counts,
        }
    }
}

/// A node's property as an `f64`, or `default`.
fn number(node: &Node, key: &str, default: f64) -> f64 {
    node.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// The properties every stored memory carries, then `extra`.
fn properties(
    origin: &Origin,
    extra: impl IntoIterator<Item = (&'static str, Value)>,
) -> Map<String, Value> {
    let mut properties = origin.properties();
    properties.extend(
        extra
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value)),
    );
    properties
}
