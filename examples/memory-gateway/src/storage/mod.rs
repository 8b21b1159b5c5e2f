//! The storage layer: a vector store and a property graph, both in memory, each call a CLIENT
//! span as a call to a database would be.

pub mod embedding;
mod graph;
mod vector;

pub use graph::{Edge, GraphQuery, Node, QueryResult, T4DXGraphAdapter};
pub use vector::{ScoredPoint, T4DXVectorAdapter};
