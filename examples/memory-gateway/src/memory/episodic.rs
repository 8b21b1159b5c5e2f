//! Episodic memory: what happened, recalled by similarity or by time, and consolidated into
//! semantic knowledge.

use super::semantic::{NewEntity, SemanticMemory};
use super::{IdSequence, MIN_SIMILARITY, MemoryError, Origin, number, properties, round};
use crate::storage::embedding::{Embedding, cosine, embed};
use crate::storage::{GraphQuery, Node, ScoredPoint, T4DXGraphAdapter, T4DXVectorAdapter};
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use t4dm_trace_runtime::{add_span_attribute, trace_span, traced};

/// The graph label of episodes.
pub(super) const LABEL: &str = "Episode";
/// The vector collection of episodes (the seed's name).
const COLLECTION: &str = "ww_episodes";

/// What `create_episode` stores.
#[derive(Debug, Clone)]
pub struct NewEpisode {
    /// What happened.
    pub content: String,
    /// Where, with whom, about what: any JSON object.
    pub context: Map<String, Value>,
    /// From 0 (trivial) to 1 (vital).
    pub importance: f64,
}

/// A stored episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    /// Its id.
    pub id: String,
    /// What happened.
    pub content: String,
    /// Its context object.
    pub context: Map<String, Value>,
    /// From 0 to 1.
    pub importance: f64,
    /// When it was stored.
    pub created_at: String,
    /// The session that stored it.
    pub session_id: String,
    /// The semantic entity it was consolidated into, once it has been.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consolidated_into: Option<String>,
}

impl Episode {
    fn from_node(node: &Node) -> Self {
        Episode {
            id: node.id.clone(),
            content: node.text("content").to_owned(),
            context: node
                .get("context")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            importance: number(node, "importance", 0.5),
            created_at: node.created_at.to_string(),
            session_id: node.text("session_id").to_owned(),
            consolidated_into: node
                .get("consolidated_into")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// An episode found by `recall_episodes`, with why it ranked where it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecalledEpisode {
    /// Its id.
    pub id: String,
    /// What happened.
    pub content: String,
    /// From 0 to 1.
    pub importance: f64,
    /// When it was stored.
    pub created_at: String,
    /// Cosine similarity of its content to the query.
    pub similarity: f64,
    /// The ranking score: mostly similarity, then importance, then recency.
    pub score: f64,
}

/// What `consolidate_now` did.
#[derive(Debug, Clone, Serialize)]
pub struct Consolidation {
    /// Episodes not yet consolidated when it started.
    pub episodes_examined: usize,
    /// The groups of similar episodes turned into semantic entities.
    pub clusters: Vec<ConsolidatedCluster>,
}

/// One group of similar episodes and the entity that now summarises it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsolidatedCluster {
    /// The new semantic entity.
    pub entity_id: String,
    /// Its name: the words the episodes share most.
    pub name: String,
    /// The episodes it was derived from.
    pub episode_ids: Vec<String>,
}

/// Episodes in a vector collection (for recall) and in the graph (for time and provenance).
#[derive(Debug)]
pub struct EpisodicMemory {
    vectors: T4DXVectorAdapter,
    graph: Arc<T4DXGraphAdapter>,
    ids: IdSequence,
}

impl EpisodicMemory {
    pub(super) fn new(graph: Arc<T4DXGraphAdapter>) -> Self {
        EpisodicMemory {
            vectors: T4DXVectorAdapter::new(COLLECTION),
            graph,
            ids: IdSequence::new("episode"),
        }
    }

    /// Stores an episode.
    #[traced("episodic.create", attrs(importance = episode.importance))]
    pub async fn create(&self, episode: NewEpisode, origin: &Origin) -> Episode {
        let id = self.ids.next();
        let vector = embed(&episode.content);
        let properties = properties(
            origin,
            [
                ("content", Value::from(episode.content)),
                ("context", Value::Object(episode.context)),
                ("importance", Value::from(episode.importance)),
                ("consolidated", Value::from(false)),
            ],
        );
        let node = self
            .graph
            .create_node(LABEL, &id, Timestamp::now(), properties)
            .await;
        self.vectors.add(&id, vector, payload(&node)).await;
        Episode::from_node(&node)
    }

    /// The episodes most like `query`, best first: at most `limit`, none unrelated.
    #[traced("episodic.recall", attrs(limit))]
    pub async fn recall(&self, query: &str, limit: usize) -> Vec<RecalledEpisode> {
        let candidates = self.vectors.search(&embed(query), limit).await;
        let now = Timestamp::now();
        let recalled = trace_span("scoring_computation")
            .with_attribute("candidates", candidates.len())
            .in_scope(|| rank(candidates, now));
        add_span_attribute("results", recalled.len());
        recalled
    }

    /// The episodes stored at or before `at`, newest first.
    #[traced("episodic.query_at_time", attrs(%at, limit))]
    pub async fn query_at_time(&self, at: Timestamp, limit: usize) -> Vec<Episode> {
        let found = self
            .graph
            .query(GraphQuery::CreatedBefore {
                label: LABEL,
                at,
                limit,
            })
            .await;
        found.nodes.iter().map(Episode::from_node).collect()
    }

    /// Sets an episode's importance, which recall weighs.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when there is no such episode.
    #[traced("episodic.mark_important", attrs(importance))]
    pub async fn mark_important(&self, id: &str, importance: f64) -> Result<Episode, MemoryError> {
        let updated = self
            .graph
            .query(GraphQuery::Set {
                label: LABEL,
                id: id.to_owned(),
                properties: json_object(json!({ "importance": importance })),
            })
            .await;
        let Some(node) = updated.nodes.first() else {
            return Err(MemoryError::NotFound {
                kind: "episode",
                id: id.to_owned(),
            });
        };
        // Recall scores from the vector payload, so it must learn the new importance too.
        self.vectors
            .add(&node.id, embed(node.text("content")), payload(node))
            .await;
        Ok(Episode::from_node(node))
    }

    /// Groups the episodes not yet consolidated by similarity; each group of at least
    /// `min_cluster_size` becomes a semantic entity that the episodes are `DERIVED_FROM`.
    #[traced("episodic.consolidate", attrs(min_cluster_size, similarity_threshold))]
    pub async fn consolidate(
        &self,
        semantic: &SemanticMemory,
        min_cluster_size: usize,
        similarity_threshold: f64,
        origin: &Origin,
    ) -> Consolidation {
        let pending = self
            .graph
            .query(GraphQuery::Find {
                label: LABEL,
                key: "consolidated",
                value: Value::from(false),
            })
            .await
            .nodes;
        let clusters = trace_span("clustering")
            .with_attribute("episodes", pending.len())
            .in_scope(|| cluster(&pending, similarity_threshold));
        let mut formed = Vec::new();
        for members in clusters
            .into_iter()
            .filter(|members| members.len() >= min_cluster_size.max(1))
        {
            let (name, summary) = describe(&members);
            let entity = semantic
                .create_entity(
                    NewEntity {
                        name: name.clone(),
                        entity_type: "consolidated_memory".to_owned(),
                        summary,
                    },
                    origin,
                )
                .await;
            for episode in &members {
                self.graph
                    .query(GraphQuery::Relate {
                        from: entity.id.clone(),
                        to: episode.id.clone(),
                        relation: "DERIVED_FROM".to_owned(),
                        weight: 1.0,
                    })
                    .await;
                self.graph
                    .query(GraphQuery::Set {
                        label: LABEL,
                        id: episode.id.clone(),
                        properties: json_object(
                            json!({ "consolidated": true, "consolidated_into": entity.id }),
                        ),
                    })
                    .await;
            }
            formed.push(ConsolidatedCluster {
                entity_id: entity.id,
                name,
                episode_ids: members.iter().map(|episode| episode.id.clone()).collect(),
            });
        }
        add_span_attribute("clusters", formed.len());
        Consolidation {
            episodes_examined: pending.len(),
            clusters: formed,
        }
    }
}

/// What the vector collection keeps with an episode: what recall shows and scores.
fn payload(node: &Node) -> Map<String, Value> {
    json_object(json!({
        "content": node.text("content"),
        "importance": number(node, "importance", 0.5),
        "created_at_ms": node.created_at.as_millis(),
    }))
}

fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Orders candidates by `0.75 similarity + 0.15 importance + 0.10 recency` (recency halves each
/// day), dropping those too dissimilar to be memories of the query.
fn rank(candidates: Vec<ScoredPoint>, now: Timestamp) -> Vec<RecalledEpisode> {
    const DAY_MS: f64 = 86_400_000.0;
    let mut ranked: Vec<RecalledEpisode> = candidates
        .into_iter()
        .filter(|candidate| candidate.score >= MIN_SIMILARITY)
        .map(|candidate| {
            let payload = &candidate.payload;
            let importance = payload
                .get("importance")
                .and_then(Value::as_f64)
                .unwrap_or(0.5);
            let created = Timestamp::from_millis(
                payload
                    .get("created_at_ms")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
            );
            #[allow(clippy::cast_precision_loss)] // ages in ms stay far below 2^52
            let age_days = (now.as_millis() - created.as_millis()).max(0) as f64 / DAY_MS;
            let recency = 0.5_f64.powf(age_days);
            let similarity = f64::from(candidate.score);
            RecalledEpisode {
                content: payload
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                id: candidate.id,
                importance,
                created_at: created.to_string(),
                similarity: round(similarity),
                score: round(0.75 * similarity + 0.15 * importance + 0.10 * recency),
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked
}

/// Greedy clustering: each episode joins the first cluster whose centroid it is at least
/// `threshold` similar to, or starts a new one. Order-dependent, but deterministic.
fn cluster(episodes: &[Node], threshold: f64) -> Vec<Vec<Node>> {
    let mut clusters: Vec<(Embedding, Vec<Node>)> = Vec::new();
    for episode in episodes {
        let vector = embed(episode.text("content"));
        let home = clusters
            .iter()
            .position(|(centroid, _)| f64::from(cosine(centroid, &vector)) >= threshold);
        match home {
            Some(index) => {
                let (centroid, members) = &mut clusters[index];
                for (sum, x) in centroid.iter_mut().zip(&vector) {
                    *sum += x;
                }
                members.push(episode.clone());
            }
            None => clusters.push((vector, vec![episode.clone()])),
        }
    }
    clusters.into_iter().map(|(_, members)| members).collect()
}

/// A name from the words the episodes share most, and a summary quoting the most important.
fn describe(members: &[Node]) -> (String, String) {
    const STOPWORDS: &[&str] = &[
        "about", "after", "also", "been", "from", "have", "into", "that", "their", "there", "they",
        "this", "were", "what", "when", "which", "will", "with", "your",
    ];
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let mut order = 0;
    for member in members {
        let mut seen_here = Vec::new();
        for word in member
            .text("content")
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| word.chars().count() >= 4 && !STOPWORDS.contains(word))
        {
            if seen_here.contains(&word) {
                continue;
            }
            seen_here.push(word);
            let entry = counts.entry(word.to_owned()).or_insert((0, order));
            entry.0 += 1;
            order += 1;
        }
    }
    let mut words: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    // Most shared first; ties in order of first appearance.
    words.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    let name = words
        .iter()
        .take(3)
        .map(|(word, _)| word.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let representative = members
        .iter()
        .max_by(|a, b| number(a, "importance", 0.5).total_cmp(&number(b, "importance", 0.5)))
        .map(|node| node.text("content"))
        .unwrap_or_default();
    let summary = format!(
        "{} related episodes, such as: {representative}",
        members.len()
    );
    (name, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            session_id: "test".to_owned(),
            tool: "create_episode",
        }
    }

    fn episode(content: &str, importance: f64) -> NewEpisode {
        NewEpisode {
            content: content.to_owned(),
            context: Map::new(),
            importance,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn recall_returns_what_was_stored_ranked_by_similarity() {
        let memory = EpisodicMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let coffee = memory
            .create(
                episode("Had coffee with Ana at the Blue Door café", 0.5),
                &origin(),
            )
            .await;
        memory
            .create(
                episode("Reviewed the quarterly budget with finance", 0.9),
                &origin(),
            )
            .await;
        let beans = memory
            .create(
                episode("Ana recommended Ethiopian coffee beans", 0.5),
                &origin(),
            )
            .await;
        let recalled = memory.recall("coffee with Ana", 10).await;
        let ids: Vec<&str> = recalled.iter().map(|found| found.id.as_str()).collect();
        assert_eq!(
            ids,
            [coffee.id.as_str(), beans.id.as_str()],
            "{recalled:#?}"
        );
        assert!(recalled[0].score >= recalled[1].score);
        assert_eq!(
            recalled[0].content,
            "Had coffee with Ana at the Blue Door café"
        );
        assert_eq!(memory.recall("coffee", 1).await.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn importance_changes_the_ranking_of_equally_similar_episodes() {
        let memory = EpisodicMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let first = memory
            .create(episode("standup meeting notes", 0.2), &origin())
            .await;
        let second = memory
            .create(episode("standup meeting notes", 0.2), &origin())
            .await;
        assert_eq!(memory.recall("standup meeting", 10).await[0].id, first.id);
        memory.mark_important(&second.id, 1.0).await.unwrap();
        assert_eq!(memory.recall("standup meeting", 10).await[0].id, second.id);
        assert_eq!(
            memory.mark_important("episode-404", 1.0).await,
            Err(MemoryError::NotFound {
                kind: "episode",
                id: "episode-404".to_owned()
            })
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn query_at_time_sees_only_what_existed_then() {
        let memory = EpisodicMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let stored = memory
            .create(episode("a thing happened", 0.5), &origin())
            .await;
        assert_eq!(memory.query_at_time(Timestamp::now(), 10).await, [stored]);
        assert!(
            memory
                .query_at_time(Timestamp::from_millis(0), 10)
                .await
                .is_empty()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn consolidation_turns_similar_episodes_into_one_entity() {
        let graph = Arc::new(T4DXGraphAdapter::new());
        let memory = EpisodicMemory::new(Arc::clone(&graph));
        let semantic = SemanticMemory::new(graph);
        for content in [
            "Had coffee with Ana at the Blue Door café",
            "Ana recommended the Ethiopian coffee beans at the café",
            "Reviewed the quarterly budget with finance",
        ] {
            memory.create(episode(content, 0.5), &origin()).await;
        }
        let done = memory.consolidate(&semantic, 2, 0.3, &origin()).await;
        assert_eq!(done.episodes_examined, 3);
        assert_eq!(done.clusters.len(), 1, "{done:#?}");
        assert_eq!(done.clusters[0].episode_ids, ["episode-1", "episode-2"]);
        assert!(
            done.clusters[0].name.contains("coffee"),
            "{}",
            done.clusters[0].name
        );
        let again = memory.consolidate(&semantic, 2, 0.3, &origin()).await;
        assert_eq!(
            again.episodes_examined, 1,
            "consolidated episodes are not examined again"
        );
    }
}
