//! The T4DM memory gateway: an MCP server over episodic, semantic and procedural memory, and
//! t4dm-trace's showcase.
//!
//! Every MCP message is a SERVER span (`mcp.recall_episodes`), every memory-service method an
//! INTERNAL span (`episodic.recall`), every storage call a CLIENT span (`qdrant.search`,
//! `neo4j.query`), all declared with `#[traced]`:
//!
//! ```text
//! mcp.recall_episodes SERVER
//!   ├─ episodic.recall INTERNAL
//!   │   ├─ qdrant.search CLIENT   collection=ww_episodes limit=10
//!   │   └─ scoring_computation INTERNAL
//!   └─ response_formatting INTERNAL
//! ```
//!
//! The binary `t4dm-gateway` serves MCP on stdio (the default) or streamable HTTP
//! (`--http PORT`), or runs a scripted session that calls every tool (`--demo`).

pub mod demo;
pub mod gateway;
pub mod jsonrpc;
pub mod memory;
mod propagation;
pub mod storage;
pub mod time;
pub mod tools;
pub mod transport;

pub use gateway::{Gateway, Session, Transport};
