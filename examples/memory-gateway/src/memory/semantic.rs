//! Semantic memory: entities, the facts about them, and the relations between them.

use super::{IdSequence, MIN_SIMILARITY, MemoryError, Origin, properties, round};
use crate::storage::embedding::embed;
use crate::storage::{GraphQuery, Node, T4DXGraphAdapter, T4DXVectorAdapter};
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use t4dm_trace_runtime::{add_span_attribute, traced};

/// The graph label of entities.
pub(super) const LABEL: &str = "Entity";
/// The vector collection of entities.
const COLLECTION: &str = "ww_entities";

/// What `create_entity` stores.
#[derive(Debug, Clone)]
pub struct NewEntity {
    /// What the entity is called.
    pub name: String,
    /// `person`, `place`, `concept`, ...
    pub entity_type: String,
    /// The current fact about it.
    pub summary: String,
}

/// A stored entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    /// Its id.
    pub id: String,
    /// What it is called.
    pub name: String,
    /// Its type.
    pub entity_type: String,
    /// The fact it holds.
    pub summary: String,
    /// When it was stored.
    pub created_at: String,
    /// The newer entity that replaced this fact, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

impl Entity {
    fn from_node(node: &Node) -> Self {
        Entity {
            id: node.id.clone(),
            name: node.text("name").to_owned(),
            entity_type: node.text("entity_type").to_owned(),
            summary: node.text("summary").to_owned(),
            created_at: node.created_at.to_string(),
            superseded_by: node
                .get("superseded_by")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// A relation between two memories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relation {
    /// The source's id.
    pub source_id: String,
    /// The target's id.
    pub target_id: String,
    /// Its type, such as `WORKS_WITH`.
    pub relation_type: String,
    /// From 0 to 1: how much activation it carries.
    pub weight: f64,
}

/// An entity found by `semantic_recall`, with its neighbours in the graph.
#[derive(Debug, Clone, Serialize)]
pub struct RecalledEntity {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its type.
    pub entity_type: String,
    /// Its fact.
    pub summary: String,
    /// Cosine similarity to the query.
    pub similarity: f64,
    /// What it is related to.
    pub related: Vec<RelatedEntity>,
}

/// A neighbour of a recalled entity.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedEntity {
    /// The neighbour's id.
    pub id: String,
    /// Its name (or content, for an episode).
    pub name: String,
    /// The relation type.
    pub relation: String,
    /// `outgoing` when the recalled entity is the source, else `incoming`.
    pub direction: &'static str,
}

/// A memory reached by spreading activation.
#[derive(Debug, Clone, Serialize)]
pub struct Activation {
    /// Its id.
    pub id: String,
    /// `Entity`, `Episode` or `Skill`.
    pub kind: &'static str,
    /// Its name (or content, for an episode).
    pub name: String,
    /// From 0 to 1.
    pub activation: f64,
    /// Relations walked from the nearest seed.
    pub hops: usize,
}

/// What `supersede_fact` did.
#[derive(Debug, Clone, Serialize)]
pub struct Supersession {
    /// The entity holding the old fact, kept for provenance.
    pub superseded_id: String,
    /// The entity holding the new fact.
    pub current: Entity,
    /// Why it changed.
    pub reason: String,
}

/// Entities in a vector collection (for recall) and in the graph (for relations).
#[derive(Debug)]
pub struct SemanticMemory {
    vectors: T4DXVectorAdapter,
    graph: Arc<T4DXGraphAdapter>,
    ids: IdSequence,
}

impl SemanticMemory {
    pub(super) fn new(graph: Arc<T4DXGraphAdapter>) -> Self {
        SemanticMemory {
            vectors: T4DXVectorAdapter::new(COLLECTION),
            graph,
            ids: IdSequence::new("entity"),
        }
    }

    /// Stores an entity.
    #[traced("semantic.create_entity", attrs(entity.type = entity.entity_type.as_str()))]
    pub async fn create_entity(&self, entity: NewEntity, origin: &Origin) -> Entity {
        let id = self.ids.next();
        let vector = embed(&format!("{} {}", entity.name, entity.summary));
        let mut payload = Map::new();
        payload.insert("name".to_owned(), entity.name.clone().into());
        payload.insert("entity_type".to_owned(), entity.entity_type.clone().into());
        payload.insert("summary".to_owned(), entity.summary.clone().into());
        let node = self
            .graph
            .create_node(
                LABEL,
                &id,
                Timestamp::now(),
                properties(
                    origin,
                    [
                        ("name", Value::from(entity.name)),
                        ("entity_type", Value::from(entity.entity_type)),
                        ("summary", Value::from(entity.summary)),
                    ],
                ),
            )
            .await;
        self.vectors.add(&id, vector, payload).await;
        Entity::from_node(&node)
    }

    /// Relates two stored memories.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when either end does not exist.
    #[traced("semantic.create_relation", attrs(relation.type = relation.relation_type.as_str()))]
    pub async fn create_relation(&self, relation: Relation) -> Result<Relation, MemoryError> {
        let created = self
            .graph
            .query(GraphQuery::Relate {
                from: relation.source_id.clone(),
                to: relation.target_id.clone(),
                relation: relation.relation_type.clone(),
                weight: relation.weight,
            })
            .await;
        if created.edges.is_empty() {
            let missing = self
                .missing(&[&relation.source_id, &relation.target_id])
                .await;
            return Err(MemoryError::NotFound {
                kind: "memory",
                id: missing,
            });
        }
        Ok(relation)
    }

    /// The current entities most like `query`, with their neighbours.
    #[traced("semantic.recall", attrs(limit))]
    pub async fn recall(&self, query: &str, limit: usize) -> Vec<RecalledEntity> {
        let hits: Vec<_> = self
            .vectors
            .search(&embed(query), limit)
            .await
            .into_iter()
            .filter(|hit| hit.score >= MIN_SIMILARITY)
            .collect();
        if hits.is_empty() {
            return Vec::new();
        }
        let neighbours = self
            .graph
            .query(GraphQuery::Neighbours {
                ids: hits.iter().map(|hit| hit.id.clone()).collect(),
            })
            .await;
        let names: HashMap<&str, &Node> = neighbours
            .nodes
            .iter()
            .map(|node| (node.id.as_str(), node))
            .collect();
        let recalled: Vec<RecalledEntity> = hits
            .into_iter()
            .map(|hit| {
                let related = neighbours
                    .edges
                    .iter()
                    .filter_map(|edge| {
                        let (other, direction) = if edge.from == hit.id {
                            (&edge.to, "outgoing")
                        } else if edge.to == hit.id {
                            (&edge.from, "incoming")
                        } else {
                            return None;
                        };
                        Some(RelatedEntity {
                            id: other.clone(),
                            name: names
                                .get(other.as_str())
                                .map(|node| display_name(node))
                                .unwrap_or_default(),
                            relation: edge.relation.clone(),
                            direction,
                        })
                    })
                    .collect();
                let text = |key: &str| {
                    hit.payload
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                RecalledEntity {
                    name: text("name"),
                    entity_type: text("entity_type"),
                    summary: text("summary"),
                    similarity: round(f64::from(hit.score)),
                    id: hit.id,
                    related,
                }
            })
            .collect();
        add_span_attribute("results", recalled.len());
        recalled
    }

    /// Spreads activation from `seeds` along relations: each hop passes on
    /// `activation × weight × decay`, summed per memory and capped at 1; memories below
    /// `threshold` do not pass it on.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when a seed does not exist.
    #[traced("semantic.spread_activation", attrs(seeds = seeds.len(), max_hops, decay))]
    pub async fn spread_activation(
        &self,
        seeds: &[String],
        max_hops: usize,
        decay: f64,
        threshold: f64,
    ) -> Result<Vec<Activation>, MemoryError> {
        let mut reached: HashMap<String, (f64, usize, Option<Node>)> = HashMap::new();
        for seed in seeds {
            let found = self
                .graph
                .query(GraphQuery::Node { id: seed.clone() })
                .await;
            let Some(node) = found.nodes.into_iter().next() else {
                return Err(MemoryError::NotFound {
                    kind: "memory",
                    id: seed.clone(),
                });
            };
            reached.insert(seed.clone(), (1.0, 0, Some(node)));
        }
        let mut frontier: Vec<String> = seeds.to_vec();
        let mut hops = 0;
        while hops < max_hops && !frontier.is_empty() {
            hops += 1;
            let walked = self
                .graph
                .query(GraphQuery::Neighbours {
                    ids: frontier.clone(),
                })
                .await;
            let nodes: HashMap<&str, &Node> = walked
                .nodes
                .iter()
                .map(|node| (node.id.as_str(), node))
                .collect();
            let sources: HashSet<&str> = frontier.iter().map(String::as_str).collect();
            let mut next = Vec::new();
            for edge in &walked.edges {
                // Activation spreads both ways along a relation.
                for (from, to) in [(&edge.from, &edge.to), (&edge.to, &edge.from)] {
                    if !sources.contains(from.as_str()) || seeds.contains(to) {
                        continue;
                    }
                    let passed = reached
                        .get(from)
                        .map_or(0.0, |(activation, ..)| *activation)
                        * edge.weight.clamp(0.0, 1.0)
                        * decay;
                    let entry = reached.entry(to.clone()).or_insert_with(|| {
                        (
                            0.0,
                            hops,
                            nodes.get(to.as_str()).map(|node| (*node).clone()),
                        )
                    });
                    let was_below = entry.0 < threshold;
                    entry.0 = (entry.0 + passed).min(1.0);
                    if was_below && entry.0 >= threshold && !next.contains(to) {
                        next.push(to.clone());
                    }
                }
            }
            frontier = next;
        }
        let mut activations: Vec<Activation> = reached
            .into_iter()
            .filter(|(id, (activation, ..))| !seeds.contains(id) && *activation >= threshold)
            .filter_map(|(id, (activation, hops, node))| {
                let node = node?;
                Some(Activation {
                    id,
                    kind: node.label,
                    name: display_name(&node),
                    activation: round(activation),
                    hops,
                })
            })
            .collect();
        activations.sort_by(|a, b| b.activation.total_cmp(&a.activation).then(a.id.cmp(&b.id)));
        add_span_attribute("hops", hops);
        add_span_attribute("activated", activations.len());
        Ok(activations)
    }

    /// Replaces an entity's fact with a new entity that `SUPERSEDES` it. The old one stays in
    /// the graph for provenance but leaves recall.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when there is no such entity;
    /// [`MemoryError::AlreadySuperseded`] when its fact was already replaced.
    #[traced("semantic.supersede_fact")]
    pub async fn supersede_fact(
        &self,
        id: &str,
        summary: String,
        reason: String,
        origin: &Origin,
    ) -> Result<Supersession, MemoryError> {
        let found = self
            .graph
            .query(GraphQuery::Node { id: id.to_owned() })
            .await;
        let Some(old) = found.nodes.first().filter(|node| node.label == LABEL) else {
            return Err(MemoryError::NotFound {
                kind: "entity",
                id: id.to_owned(),
            });
        };
        if let Some(by) = old.get("superseded_by").and_then(Value::as_str) {
            return Err(MemoryError::AlreadySuperseded {
                id: id.to_owned(),
                by: by.to_owned(),
            });
        }
        let current = self
            .create_entity(
                NewEntity {
                    name: old.text("name").to_owned(),
                    entity_type: old.text("entity_type").to_owned(),
                    summary,
                },
                origin,
            )
            .await;
        self.graph
            .query(GraphQuery::Relate {
                from: current.id.clone(),
                to: id.to_owned(),
                relation: "SUPERSEDES".to_owned(),
                weight: 1.0,
            })
            .await;
        let mut marks = Map::new();
        marks.insert("superseded_by".to_owned(), current.id.clone().into());
        marks.insert("superseded_reason".to_owned(), reason.clone().into());
        marks.insert("valid_to".to_owned(), Timestamp::now().to_string().into());
        self.graph
            .query(GraphQuery::Set {
                label: LABEL,
                id: id.to_owned(),
                properties: marks,
            })
            .await;
        self.vectors.delete(&[id]).await;
        Ok(Supersession {
            superseded_id: id.to_owned(),
            current,
            reason,
        })
    }

    /// The first of `ids` with no node, for an error message.
    async fn missing(&self, ids: &[&str]) -> String {
        for id in ids {
            let found = self
                .graph
                .query(GraphQuery::Node {
                    id: (*id).to_owned(),
                })
                .await;
            if found.nodes.is_empty() {
                return (*id).to_owned();
            }
        }
        ids.first().map(|id| (*id).to_owned()).unwrap_or_default()
    }
}

/// What to call a memory in a result: its name, or the start of its content.
pub(super) fn display_name(node: &Node) -> String {
    let name = node.text("name");
    if !name.is_empty() {
        return name.to_owned();
    }
    let content = node.text("content");
    match content.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &content[..cut]),
        None => content.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            session_id: "test".to_owned(),
            tool: "create_entity",
        }
    }

    fn entity(name: &str, summary: &str) -> NewEntity {
        NewEntity {
            name: name.to_owned(),
            entity_type: "person".to_owned(),
            summary: summary.to_owned(),
        }
    }

    fn relation(source: &Entity, target: &Entity, weight: f64) -> Relation {
        Relation {
            source_id: source.id.clone(),
            target_id: target.id.clone(),
            relation_type: "KNOWS".to_owned(),
            weight,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn recall_finds_entities_with_their_relations() {
        let memory = SemanticMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let ana = memory
            .create_entity(entity("Ana", "barista at the Blue Door café"), &origin())
            .await;
        let ben = memory
            .create_entity(entity("Ben", "accountant in finance"), &origin())
            .await;
        memory
            .create_relation(relation(&ana, &ben, 0.8))
            .await
            .unwrap();
        let found = memory.recall("café barista", 5).await;
        assert_eq!(found[0].id, ana.id);
        assert_eq!(found[0].related[0].id, ben.id);
        assert_eq!(found[0].related[0].name, "Ben");
        let both = memory.recall("Ana Ben", 5).await;
        assert_eq!(both.len(), 2, "{both:#?}");
        assert!(
            both.iter().all(|entity| !entity.related[0].name.is_empty()),
            "a neighbour that is itself a hit keeps its name: {both:#?}"
        );
        assert_eq!(found[0].related[0].direction, "outgoing");
        let missing = Relation {
            target_id: "entity-404".to_owned(),
            ..relation(&ana, &ben, 1.0)
        };
        assert_eq!(
            memory.create_relation(missing).await,
            Err(MemoryError::NotFound {
                kind: "memory",
                id: "entity-404".to_owned()
            })
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn activation_decays_along_relations() {
        let memory = SemanticMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let a = memory.create_entity(entity("A", "first"), &origin()).await;
        let b = memory.create_entity(entity("B", "second"), &origin()).await;
        let c = memory.create_entity(entity("C", "third"), &origin()).await;
        let far = memory.create_entity(entity("D", "fourth"), &origin()).await;
        memory.create_relation(relation(&a, &b, 1.0)).await.unwrap();
        memory.create_relation(relation(&c, &b, 1.0)).await.unwrap();
        memory
            .create_relation(relation(&c, &far, 1.0))
            .await
            .unwrap();
        let reached = memory
            .spread_activation(std::slice::from_ref(&a.id), 2, 0.5, 0.1)
            .await
            .unwrap();
        let summary: Vec<(&str, f64, usize)> = reached
            .iter()
            .map(|found| (found.id.as_str(), found.activation, found.hops))
            .collect();
        assert_eq!(summary, [(b.id.as_str(), 0.5, 1), (c.id.as_str(), 0.25, 2)]);
        assert!(matches!(
            memory
                .spread_activation(&["nope".to_owned()], 2, 0.5, 0.1)
                .await,
            Err(MemoryError::NotFound { .. })
        ));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_superseded_fact_leaves_recall_but_keeps_its_history() {
        let memory = SemanticMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let old = memory
            .create_entity(entity("Blue Door café", "on Main Street"), &origin())
            .await;
        let change = memory
            .supersede_fact(
                &old.id,
                "on Elm Street".to_owned(),
                "moved".to_owned(),
                &origin(),
            )
            .await
            .unwrap();
        let found = memory.recall("Blue Door café", 5).await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, change.current.id);
        assert_eq!(found[0].summary, "on Elm Street");
        assert_eq!(found[0].related[0].relation, "SUPERSEDES");
        assert_eq!(
            memory
                .supersede_fact(&old.id, "x".to_owned(), "y".to_owned(), &origin())
                .await
                .map(|change| change.current.id),
            Err(MemoryError::AlreadySuperseded {
                id: old.id.clone(),
                by: change.current.id.clone()
            })
        );
    }
}
