//! The stdio transport: one JSON-RPC message per line on standard input, one response per line
//! on standard output. Standard output carries nothing else; diagnostics and traces go to
//! standard error.

use crate::gateway::{Gateway, Session};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Serves `session` on the process's standard input and output until standard input ends.
///
/// # Errors
///
/// When standard input cannot be read or standard output written.
pub async fn serve_stdio(gateway: &Gateway, session: &Session) -> std::io::Result<()> {
    serve(
        gateway,
        session,
        BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
    )
    .await
}

/// Serves `session` on any line-oriented stream, one message at a time in arrival order, so a
/// client that pipelines requests sees their effects in the order it sent them.
///
/// # Errors
///
/// When `input` cannot be read or `output` written.
pub async fn serve(
    gateway: &Gateway,
    session: &Session,
    mut input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // Bytes, not a `String`: a line that is not UTF-8 gets a parse error, not an exit.
        if let Some(response) = gateway.handle_bytes(session, &line).await {
            let mut bytes = serde_json::to_vec(&response)?;
            bytes.push(b'\n');
            output.write_all(&bytes).await?;
            output.flush().await?;
        }
    }
}
