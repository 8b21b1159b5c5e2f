//! How clients reach the gateway: newline-delimited JSON-RPC on stdio, or MCP's streamable
//! HTTP on 127.0.0.1.

pub mod http;
pub mod stdio;
