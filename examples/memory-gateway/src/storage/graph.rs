//! `T4DXGraphAdapter`: an in-memory property graph.
//!
//! It plays the part Neo4j plays in the seed's design, so its spans are `neo4j.query` and
//! `neo4j.create_node`. Queries are typed values rather than Cypher strings, but each one
//! says which Cypher statement it stands for: that text, with its parameters left as `$names`,
//! is what the span records as `db.query.text`, so a trace reads as it would against the
//! real database without carrying user data.

use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use t4dm_trace_runtime::{add_span_attribute, traced};
use tokio::sync::RwLock;

/// A node: an id, one label and its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique across the graph.
    pub id: String,
    /// `Episode`, `Entity` or `Skill`.
    pub label: &'static str,
    /// When the node was created.
    pub created_at: Timestamp,
    /// Everything else about it.
    pub properties: Map<String, Value>,
}

impl Node {
    /// The property `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties.get(key)
    }

    /// The string property `key`, or `""`.
    #[must_use]
    pub fn text(&self, key: &str) -> &str {
        self.get(key).and_then(Value::as_str).unwrap_or_default()
    }
}

/// A directed, weighted relationship.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The source node's id.
    pub from: String,
    /// The target node's id.
    pub to: String,
    /// The relationship type, such as `KNOWS` or `DERIVED_FROM`.
    pub relation: String,
    /// How strongly it connects its ends; spreading activation multiplies by it.
    pub weight: f64,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A read or write against the graph; see [`GraphQuery::text`] for the Cypher each stands for.
#[derive(Debug, Clone)]
pub enum GraphQuery {
    /// One node by id, with every relationship touching it.
    Node {
        /// The node's id.
        id: String,
    },
    /// Nodes with `label` created at or before `at`, newest first.
    CreatedBefore {
        /// The label to look in.
        label: &'static str,
        /// The point in time.
        at: Timestamp,
        /// The most nodes to return.
        limit: usize,
    },
    /// Nodes with `label` whose property `key` equals `value`.
    Find {
        /// The label to look in.
        label: &'static str,
        /// The property.
        key: &'static str,
        /// The value it must have.
        value: Value,
    },
    /// Merges `properties` into the node with `label` and `id`.
    Set {
        /// The node's label.
        label: &'static str,
        /// The node's id.
        id: String,
        /// The properties to set.
        properties: Map<String, Value>,
    },
    /// A relationship from one existing node to another.
    Relate {
        /// The source node's id.
        from: String,
        /// The target node's id.
        to: String,
        /// The relationship type.
        relation: String,
        /// Its weight.
        weight: f64,
    },
    /// The relationships touching any of `ids`, and the nodes at both their ends.
    Neighbours {
        /// The nodes to start from.
        ids: Vec<String>,
    },
    /// How many nodes carry each label and how many relationships have each type.
    Counts,
}

impl GraphQuery {
    /// The Cypher statement this query stands for, with `$parameters`.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            GraphQuery::Node { .. } => {
                "MATCH (n {id: $id}) OPTIONAL MATCH (n)-[r]-() RETURN n, r".to_owned()
            }
            GraphQuery::CreatedBefore { label, .. } => format!(
                "MATCH (n:{label}) WHERE n.created_at <= $at \
                 RETURN n ORDER BY n.created_at DESC LIMIT $limit"
            ),
            GraphQuery::Find { label, key, .. } => {
                format!("MATCH (n:{label} {{{key}: ${key}}}) RETURN n")
            }
            GraphQuery::Set { label, .. } => {
                format!("MATCH (n:{label} {{id: $id}}) SET n += $properties RETURN n")
            }
            GraphQuery::Relate { .. } => "MATCH (a {id: $from}), (b {id: $to}) \
                 CREATE (a)-[r:$relation {weight: $weight}]->(b) RETURN r"
                .to_owned(),
            GraphQuery::Neighbours { .. } => {
                "MATCH (n)-[r]-(m) WHERE n.id IN $ids RETURN n, r, m".to_owned()
            }
            GraphQuery::Counts => "MATCH (n) RETURN labels(n), count(*) \
                 UNION MATCH ()-[r]->() RETURN type(r), count(*)"
                .to_owned(),
        }
    }

    /// The statement's main clause, for `db.operation.name`.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        match self {
            GraphQuery::Set { .. } => "SET",
            GraphQuery::Relate { .. } => "CREATE",
            GraphQuery::Node { .. }
            | GraphQuery::CreatedBefore { .. }
            | GraphQuery::Find { .. }
            | GraphQuery::Neighbours { .. }
            | GraphQuery::Counts => "MATCH",
        }
    }

    /// The label the query is confined to, for `db.collection.name`.
    #[must_use]
    pub fn label(&self) -> Option<&'static str> {
        match self {
            GraphQuery::CreatedBefore { label, .. }
            | GraphQuery::Find { label, .. }
            | GraphQuery::Set { label, .. } => Some(label),
            GraphQuery::Node { .. }
            | GraphQuery::Relate { .. }
            | GraphQuery::Neighbours { .. }
            | GraphQuery::Counts => None,
        }
    }
}

/// What a query returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// Matched or changed nodes.
    pub nodes: Vec<Node>,
    /// Matched or created relationships.
    pub edges: Vec<Edge>,
    /// For [`GraphQuery::Counts`]: nodes per label, and relationships per type.
    pub counts: BTreeMap<String, usize>,
}

impl QueryResult {
    fn rows(&self) -> usize {
        self.nodes.len() + self.edges.len() + self.counts.len()
    }
}

#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    edges: Vec<Edge>,
}

impl Graph {
    fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|position| &self.nodes[*position])
    }

    /// Answers a query that only reads; `None` for one that writes.
    fn read(&self, query: &GraphQuery) -> Option<QueryResult> {
        let mut result = QueryResult::default();
        match query {
            GraphQuery::Node { id } => {
                if let Some(node) = self.node(id) {
                    result.nodes.push(node.clone());
                    result.edges = self
                        .edges
                        .iter()
                        .filter(|edge| edge.from == *id || edge.to == *id)
                        .cloned()
                        .collect();
                }
            }
            GraphQuery::CreatedBefore { label, at, limit } => {
                let mut found: Vec<&Node> = self
                    .nodes
                    .iter()
                    .filter(|node| node.label == *label && node.created_at <= *at)
                    .collect();
                // Newest first; of nodes created in the same millisecond, the last created.
                found.reverse();
                found.sort_by_key(|node| std::cmp::Reverse(node.created_at));
                result.nodes = found.into_iter().take(*limit).cloned().collect();
            }
            GraphQuery::Find { label, key, value } => {
                result.nodes = self
                    .nodes
                    .iter()
                    .filter(|node| node.label == *label && node.get(key) == Some(value))
                    .cloned()
                    .collect();
            }
            GraphQuery::Neighbours { ids } => {
                let starts: HashSet<&str> = ids.iter().map(String::as_str).collect();
                let mut seen = HashSet::new();
                for edge in self.edges.iter().filter(|edge| {
                    starts.contains(edge.from.as_str()) || starts.contains(edge.to.as_str())
                }) {
                    result.edges.push(edge.clone());
                    for end in [&edge.from, &edge.to] {
                        if seen.insert(end.as_str())
                            && let Some(node) = self.node(end)
                        {
                            result.nodes.push(node.clone());
                        }
                    }
                }
            }
            GraphQuery::Counts => {
                for node in &self.nodes {
                    *result.counts.entry(node.label.to_owned()).or_default() += 1;
                }
                for edge in &self.edges {
                    *result.counts.entry(edge.relation.clone()).or_default() += 1;
                }
            }
            GraphQuery::Set { .. } | GraphQuery::Relate { .. } => return None,
        }
        Some(result)
    }

    /// Runs any query, changing the graph if it writes.
    fn write(&mut self, query: GraphQuery) -> QueryResult {
        let mut result = QueryResult::default();
        match query {
            GraphQuery::Set {
                label,
                id,
                properties,
            } => {
                if let Some(position) = self.index.get(&id).copied()
                    && self.nodes[position].label == label
                {
                    let node = &mut self.nodes[position];
                    node.properties.extend(properties);
                    result.nodes.push(node.clone());
                }
            }
            GraphQuery::Relate {
                from,
                to,
                relation,
                weight,
            } => {
                if self.index.contains_key(&from) && self.index.contains_key(&to) {
                    let edge = Edge {
                        from,
                        to,
                        relation,
                        weight,
                        created_at: Timestamp::now(),
                    };
                    self.edges.push(edge.clone());
                    result.edges.push(edge);
                }
            }
            read => result = self.read(&read).unwrap_or_default(),
        }
        result
    }

    fn insert(&mut self, node: Node) {
        if let Some(position) = self.index.get(&node.id).copied() {
            self.nodes[position] = node;
        } else {
            self.index.insert(node.id.clone(), self.nodes.len());
            self.nodes.push(node);
        }
    }
}

/// The property graph shared by every memory service.
#[derive(Debug, Default)]
pub struct T4DXGraphAdapter {
    graph: RwLock<Graph>,
}

impl T4DXGraphAdapter {
    /// An empty graph.
    #[must_use]
    pub fn new() -> Self {
        T4DXGraphAdapter::default()
    }

    /// Runs one query.
    #[traced(
        "neo4j.query",
        kind = Client,
        attrs(
            db.system.name = "neo4j",
            db.collection.name = query.label(),
            db.operation.name = query.operation(),
            db.query.text = query.text(),
        )
    )]
    pub async fn query(&self, query: GraphQuery) -> QueryResult {
        // Reads share the graph; only writes wait for each other.
        let read = self.graph.read().await.read(&query);
        let result = match read {
            Some(result) => result,
            None => self.graph.write().await.write(query),
        };
        add_span_attribute("db.response.returned_rows", result.rows());
        result
    }

    /// Creates a node.
    #[traced(
        "neo4j.create_node",
        kind = Client,
        attrs(
            db.system.name = "neo4j",
            db.collection.name = label,
            db.operation.name = "CREATE",
            db.query.text = format!("CREATE (n:{label} $properties) RETURN n"),
        )
    )]
    pub async fn create_node(
        &self,
        label: &'static str,
        id: &str,
        created_at: Timestamp,
        properties: Map<String, Value>,
    ) -> Node {
        let node = Node {
            id: id.to_owned(),
            label,
            created_at,
            properties,
        };
        self.graph.write().await.insert(node.clone());
        node
    }
}
