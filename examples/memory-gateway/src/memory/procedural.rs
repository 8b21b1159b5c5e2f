//! Procedural memory: skills, as named lists of steps with `{parameters}`.

use super::{IdSequence, MIN_SIMILARITY, MemoryError, Origin, number, properties, round};
use crate::storage::embedding::embed;
use crate::storage::{GraphQuery, Node, ScoredPoint, T4DXGraphAdapter, T4DXVectorAdapter};
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use t4dm_trace_runtime::{add_span_attribute, trace_span, traced};

/// The graph label of skills.
pub(super) const LABEL: &str = "Skill";
/// The vector collection of skills.
const COLLECTION: &str = "ww_skills";

/// What `create_skill` stores.
#[derive(Debug, Clone)]
pub struct NewSkill {
    /// What the skill is called.
    pub name: String,
    /// What it achieves.
    pub description: String,
    /// Its steps, in order; `{name}` stands for a parameter given at execution.
    pub steps: Vec<String>,
}

/// A stored skill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skill {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it achieves.
    pub description: String,
    /// Its steps.
    pub steps: Vec<String>,
    /// When it was stored.
    pub created_at: String,
    /// How often it has been executed.
    pub executions: u64,
    /// Whether it was deprecated.
    pub deprecated: bool,
    /// Why it was deprecated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation_reason: Option<String>,
    /// The skill to use instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

impl Skill {
    fn from_node(node: &Node) -> Self {
        let optional = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_owned);
        Skill {
            id: node.id.clone(),
            name: node.text("name").to_owned(),
            description: node.text("description").to_owned(),
            steps: node
                .get("steps")
                .and_then(Value::as_array)
                .map(|steps| {
                    steps
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            created_at: node.created_at.to_string(),
            executions: node.get("executions").and_then(Value::as_u64).unwrap_or(0),
            deprecated: node
                .get("deprecated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            deprecation_reason: optional("deprecation_reason"),
            replaced_by: optional("replaced_by"),
        }
    }
}

/// A skill found by `recall_skill`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecalledSkill {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it achieves.
    pub description: String,
    /// Cosine similarity to the query.
    pub similarity: f64,
    /// The ranking score: similarity, then how proven the skill is by use.
    pub score: f64,
}

/// What `execute_skill` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillRun {
    /// The skill.
    pub skill_id: String,
    /// Its name.
    pub name: String,
    /// Its steps with the parameters filled in.
    pub steps: Vec<String>,
    /// How often it has been executed, this time included.
    pub executions: u64,
}

/// Skills in a vector collection (for recall) and in the graph (for state and provenance).
#[derive(Debug)]
pub struct ProceduralMemory {
    vectors: T4DXVectorAdapter,
    graph: Arc<T4DXGraphAdapter>,
    ids: IdSequence,
}

impl ProceduralMemory {
    pub(super) fn new(graph: Arc<T4DXGraphAdapter>) -> Self {
        ProceduralMemory {
            vectors: T4DXVectorAdapter::new(COLLECTION),
            graph,
            ids: IdSequence::new("skill"),
        }
    }

    /// Stores a skill.
    #[traced("procedural.create_skill", attrs(steps = skill.steps.len()))]
    pub async fn create_skill(&self, skill: NewSkill, origin: &Origin) -> Skill {
        let id = self.ids.next();
        let node = self
            .graph
            .create_node(
                LABEL,
                &id,
                Timestamp::now(),
                properties(
                    origin,
                    [
                        ("name", Value::from(skill.name)),
                        ("description", Value::from(skill.description)),
                        ("steps", Value::from(skill.steps)),
                        ("executions", Value::from(0)),
                        ("deprecated", Value::from(false)),
                    ],
                ),
            )
            .await;
        self.index(&node).await;
        Skill::from_node(&node)
    }

    /// The active skills most like `query`, best first.
    #[traced("procedural.recall_skill", attrs(limit))]
    pub async fn recall_skill(&self, query: &str, limit: usize) -> Vec<RecalledSkill> {
        let candidates = self.vectors.search(&embed(query), limit).await;
        let recalled = trace_span("scoring_computation")
            .with_attribute("candidates", candidates.len())
            .in_scope(|| rank(candidates));
        add_span_attribute("results", recalled.len());
        recalled
    }

    /// Runs a skill: its steps with `parameters` filled in, one `skill_step` span each.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when there is no such skill, [`MemoryError::Deprecated`]
    /// when it is deprecated, [`MemoryError::MissingParameter`] when a step names a
    /// parameter that was not given.
    #[traced("procedural.execute_skill")]
    pub async fn execute_skill(
        &self,
        id: &str,
        parameters: &Map<String, Value>,
    ) -> Result<SkillRun, MemoryError> {
        let skill = self.active_skill(id).await?;
        let mut steps = Vec::with_capacity(skill.steps.len());
        for (index, step) in skill.steps.iter().enumerate() {
            let rendered = trace_span("skill_step")
                .with_attribute("step.index", index)
                .in_scope(|| render(step, parameters))
                .map_err(|parameter| MemoryError::MissingParameter {
                    id: id.to_owned(),
                    parameter,
                })?;
            steps.push(rendered);
        }
        let executions = skill.executions + 1;
        let mut usage = Map::new();
        usage.insert("executions".to_owned(), executions.into());
        usage.insert(
            "last_executed_at".to_owned(),
            Timestamp::now().to_string().into(),
        );
        let updated = self
            .graph
            .query(GraphQuery::Set {
                label: LABEL,
                id: id.to_owned(),
                properties: usage,
            })
            .await;
        if let Some(node) = updated.nodes.first() {
            // Recall ranks proven skills higher, from the usage kept in the vector payload.
            self.index(node).await;
        }
        Ok(SkillRun {
            skill_id: skill.id,
            name: skill.name,
            steps,
            executions,
        })
    }

    /// Deprecates a skill: it stays in the graph for provenance but leaves recall and can no
    /// longer be executed. A replacement, if given, is linked with `REPLACED_BY`.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NotFound`] when the skill or its replacement does not exist,
    /// [`MemoryError::Deprecated`] when the skill already is.
    #[traced("procedural.deprecate_skill")]
    pub async fn deprecate_skill(
        &self,
        id: &str,
        reason: String,
        replacement: Option<String>,
    ) -> Result<Skill, MemoryError> {
        self.active_skill(id).await?;
        if let Some(replacement) = &replacement {
            let linked = self
                .graph
                .query(GraphQuery::Relate {
                    from: id.to_owned(),
                    to: replacement.clone(),
                    relation: "REPLACED_BY".to_owned(),
                    weight: 1.0,
                })
                .await;
            if linked.edges.is_empty() {
                return Err(MemoryError::NotFound {
                    kind: "skill",
                    id: replacement.clone(),
                });
            }
        }
        let mut marks = Map::new();
        marks.insert("deprecated".to_owned(), true.into());
        marks.insert("deprecation_reason".to_owned(), reason.into());
        if let Some(replacement) = replacement {
            marks.insert("replaced_by".to_owned(), replacement.into());
        }
        let updated = self
            .graph
            .query(GraphQuery::Set {
                label: LABEL,
                id: id.to_owned(),
                properties: marks,
            })
            .await;
        self.vectors.delete(&[id]).await;
        updated
            .nodes
            .first()
            .map(Skill::from_node)
            .ok_or_else(|| MemoryError::NotFound {
                kind: "skill",
                id: id.to_owned(),
            })
    }

    /// The skill, if it exists and is not deprecated.
    async fn active_skill(&self, id: &str) -> Result<Skill, MemoryError> {
        let found = self
            .graph
            .query(GraphQuery::Node { id: id.to_owned() })
            .await;
        let Some(node) = found.nodes.first().filter(|node| node.label == LABEL) else {
            return Err(MemoryError::NotFound {
                kind: "skill",
                id: id.to_owned(),
            });
        };
        let skill = Skill::from_node(node);
        if skill.deprecated {
            return Err(MemoryError::Deprecated {
                id: id.to_owned(),
                reason: skill.deprecation_reason.unwrap_or_default(),
            });
        }
        Ok(skill)
    }

    /// Writes the skill's vector and the payload recall ranks with.
    async fn index(&self, node: &Node) {
        let mut payload = Map::new();
        payload.insert("name".to_owned(), node.text("name").into());
        payload.insert("description".to_owned(), node.text("description").into());
        payload.insert(
            "executions".to_owned(),
            number(node, "executions", 0.0).into(),
        );
        let vector = embed(&format!(
            "{} {}",
            node.text("name"),
            node.text("description")
        ));
        self.vectors.add(&node.id, vector, payload).await;
    }
}

/// Orders candidates by `0.85 similarity + 0.15 proof`, where proof grows with use
/// (`executions / (executions + 3)`).
fn rank(candidates: Vec<ScoredPoint>) -> Vec<RecalledSkill> {
    let mut ranked: Vec<RecalledSkill> = candidates
        .into_iter()
        .filter(|candidate| candidate.score >= MIN_SIMILARITY)
        .map(|candidate| {
            let text = |key: &str| {
                candidate
                    .payload
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let executions = candidate
                .payload
                .get("executions")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let similarity = f64::from(candidate.score);
            let proof = executions / (executions + 3.0);
            RecalledSkill {
                name: text("name"),
                description: text("description"),
                id: candidate.id,
                similarity: round(similarity),
                score: round(0.85 * similarity + 0.15 * proof),
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked
}

/// Replaces each `{name}` in `step` by the parameter's value; `Err(name)` for a parameter not
/// given. Braces around anything but a name are left as written.
fn render(step: &str, parameters: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(step.len());
    let mut rest = step;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_length = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_length > 0 && after[name_length..].starts_with('}') {
            let name = &after[..name_length];
            match parameters.get(name) {
                Some(Value::String(text)) => out.push_str(text),
                Some(value) => out.push_str(&value.to_string()),
                None => return Err(name.to_owned()),
            }
            rest = &after[name_length + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin {
            session_id: "test".to_owned(),
            tool: "create_skill",
        }
    }

    fn parameters(value: &Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn render_fills_parameters_and_leaves_other_braces() {
        let given = parameters(&json!({ "grams": 18, "beans": "Ethiopian" }));
        assert_eq!(
            render("grind {grams} g of {beans} beans {not a name} {}", &given),
            Ok("grind 18 g of Ethiopian beans {not a name} {}".to_owned())
        );
        assert_eq!(render("pour {water} ml", &given), Err("water".to_owned()));
        assert_eq!(render("{grams", &given), Ok("{grams".to_owned()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn skills_are_recalled_executed_and_deprecated() {
        let memory = ProceduralMemory::new(Arc::new(T4DXGraphAdapter::new()));
        let brew = memory
            .create_skill(
                NewSkill {
                    name: "brew pour-over coffee".to_owned(),
                    description: "make one cup of filter coffee".to_owned(),
                    steps: vec![
                        "grind {grams} g of beans".to_owned(),
                        "pour slowly".to_owned(),
                    ],
                },
                &origin(),
            )
            .await;
        assert_eq!(memory.recall_skill("make coffee", 5).await[0].id, brew.id);
        let run = memory
            .execute_skill(&brew.id, &parameters(&json!({ "grams": 18 })))
            .await
            .unwrap();
        assert_eq!(run.steps, ["grind 18 g of beans", "pour slowly"]);
        assert_eq!(run.executions, 1);
        assert!(matches!(
            memory.execute_skill(&brew.id, &Map::new()).await,
            Err(MemoryError::MissingParameter { parameter, .. }) if parameter == "grams"
        ));
        let deprecated = memory
            .deprecate_skill(&brew.id, "use the AeroPress".to_owned(), None)
            .await
            .unwrap();
        assert!(deprecated.deprecated);
        assert!(memory.recall_skill("make coffee", 5).await.is_empty());
        assert!(matches!(
            memory.execute_skill(&brew.id, &Map::new()).await,
            Err(MemoryError::Deprecated { .. })
        ));
    }
}
