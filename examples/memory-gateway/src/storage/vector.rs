//! `T4DXVectorAdapter`: an in-memory vector collection with exact cosine search.
//!
//! It plays the part Qdrant plays in the seed's design, so its spans keep the seed's names
//! (`qdrant.search`) and attributes (`collection`, `limit`) next to the database semantic
//! conventions. Its methods are `async`, as a networked store's would be: readers share an
//! async lock, so concurrent HTTP sessions wait without blocking the runtime.

use super::embedding::cosine;
use serde_json::{Map, Value};
use t4dm_trace_runtime::{add_span_attribute, traced};
use tokio::sync::RwLock;

/// One stored vector with its payload.
#[derive(Debug, Clone)]
struct Point {
    id: String,
    vector: Vec<f32>,
    payload: Map<String, Value>,
}

/// A search hit: the point's id, its cosine similarity to the query, and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: String,
    /// Cosine similarity to the query vector, in `[-1, 1]`.
    pub score: f32,
    /// What was stored with the vector.
    pub payload: Map<String, Value>,
}

/// One named collection of vectors.
#[derive(Debug)]
pub struct T4DXVectorAdapter {
    collection: &'static str,
    points: RwLock<Vec<Point>>,
}

impl T4DXVectorAdapter {
    /// An empty collection.
    #[must_use]
    pub fn new(collection: &'static str) -> Self {
        T4DXVectorAdapter {
            collection,
            points: RwLock::new(Vec::new()),
        }
    }

    /// The collection's name.
    #[must_use]
    pub fn collection(&self) -> &'static str {
        self.collection
    }

    /// The `limit` points most similar to `vector`, best first.
    #[traced(
        "qdrant.search",
        kind = Client,
        attrs(
            collection = self.collection,
            limit,
            db.system.name = "qdrant",
            db.collection.name = self.collection,
            db.operation.name = "search",
        )
    )]
    pub async fn search(&self, vector: &[f32], limit: usize) -> Vec<ScoredPoint> {
        let points = self.points.read().await;
        let mut scored: Vec<(f32, &Point)> = points
            .iter()
            .map(|point| (cosine(vector, &point.vector), point))
            .collect();
        // Best first; equal scores keep insertion order, so results are deterministic.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(limit);
        add_span_attribute("db.response.returned_rows", scored.len());
        scored
            .into_iter()
            .map(|(score, point)| ScoredPoint {
                id: point.id.clone(),
                score,
                payload: point.payload.clone(),
            })
            .collect()
    }

    /// Stores a point, replacing any with the same id (an upsert, as Qdrant's).
    #[traced(
        "qdrant.add",
        kind = Client,
        attrs(
            collection = self.collection,
            db.system.name = "qdrant",
            db.collection.name = self.collection,
            db.operation.name = "upsert",
        )
    )]
    pub async fn add(&self, id: &str, vector: Vec<f32>, payload: Map<String, Value>) {
        let mut points = self.points.write().await;
        let point = Point {
            id: id.to_owned(),
            vector,
            payload,
        };
        match points.iter_mut().find(|existing| existing.id == id) {
            Some(existing) => *existing = point,
            None => points.push(point),
        }
    }

    /// Removes the points with these ids; returns how many there were.
    #[traced(
        "qdrant.delete",
        kind = Client,
        attrs(
            collection = self.collection,
            db.system.name = "qdrant",
            db.collection.name = self.collection,
            db.operation.name = "delete",
        )
    )]
    pub async fn delete(&self, ids: &[&str]) -> usize {
        let mut points = self.points.write().await;
        let before = points.len();
        points.retain(|point| !ids.contains(&point.id.as_str()));
        before - points.len()
    }
}
