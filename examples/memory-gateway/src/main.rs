//! `t4dm-gateway`: the T4DM memory gateway, an MCP server traced with t4dm-trace.

use memory_gateway::transport::{http, stdio};
use memory_gateway::{Gateway, Session, Transport, demo};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use t4dm_trace_runtime::{TracingConfig, init_tracing};

const USAGE: &str = "\
usage: t4dm-gateway [--demo | --http PORT]

Serves the T4DM memory tools over MCP.

  (no option)   MCP on standard input and output, one JSON-RPC message per line
  --http PORT   MCP's streamable HTTP transport at http://127.0.0.1:PORT/mcp (0: any free port)
  --demo        run a scripted session that calls every tool, draw its traces on standard
                error, and exit
  -h, --help    show this text
  -V, --version show the version

Tracing is configured by the environment: T4DM_OTEL_ENABLED=true turns it on,
T4DM_OTEL_ENDPOINT sends traces over OTLP (Jaeger, Tempo, any collector),
T4DM_OTEL_CONSOLE=true draws them on standard error, T4DM_OTEL_SERVICE_NAME names the
service. --demo turns tracing and the console on unless the environment says otherwise.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stdio,
    Http(u16),
    Demo,
}

fn main() -> ExitCode {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(Some(mode)) => mode,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("t4dm-gateway: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Only the demo has development defaults: a served gateway traces when its environment
    // says so, as the seed's configuration has it.
    let config = match mode {
        Mode::Demo => TracingConfig::builder()
            .with_development_defaults()
            .from_env(),
        Mode::Stdio | Mode::Http(_) => TracingConfig::from_env(),
    };
    let guard = match config.and_then(init_tracing) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("t4dm-gateway: cannot start tracing: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let outcome = runtime.block_on(run(mode));
            // After a signal, tokio's blocking stdin read may still be waiting for a line that
            // never comes: do not wait for it.
            runtime.shutdown_timeout(Duration::from_millis(100));
            outcome
        }
        Err(error) => Err(format!("cannot start the async runtime: {error}")),
    };
    // Exports what is still queued: the last calls' traces.
    if let Err(error) = guard.shutdown() {
        eprintln!("t4dm-gateway: {error}");
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("t4dm-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` when the arguments asked only for help or the version.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Mode>, String> {
    let mut mode = Mode::Stdio;
    while let Some(arg) = args.next() {
        let next = match arg.as_str() {
            "--demo" => Mode::Demo,
            "--http" => {
                let port = args.next().ok_or("`--http` needs a port")?;
                let port = port
                    .parse()
                    .map_err(|_| format!("`{port}` is not a port number"))?;
                Mode::Http(port)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("t4dm-gateway {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(format!("unknown argument `{other}`")),
        };
        if mode != Mode::Stdio {
            return Err("`--demo` and `--http` are alternatives".to_owned());
        }
        mode = next;
    }
    Ok(Some(mode))
}

async fn run(mode: Mode) -> Result<(), String> {
    let gateway = Arc::new(Gateway::new());
    match mode {
        Mode::Demo => demo::run(&mut std::io::stdout().lock())
            .await
            .map_err(|error| error.to_string()),
        Mode::Stdio => {
            let session = Session::new(Transport::Stdio)
                .map_err(|error| format!("cannot make a session id: {error}"))?;
            eprintln!(
                "t4dm-gateway {}: serving MCP on stdio, session {}",
                env!("CARGO_PKG_VERSION"),
                session.id()
            );
            tokio::select! {
                served = stdio::serve_stdio(&gateway, &session) => {
                    served.map_err(|error| format!("stdio failed: {error}"))
                }
                () = shutdown_signal() => Ok(()),
            }
        }
        Mode::Http(port) => {
            let listener = http::bind(port)
                .await
                .map_err(|error| format!("cannot listen on 127.0.0.1:{port}: {error}"))?;
            let address = listener
                .local_addr()
                .map_err(|error| format!("cannot read the bound address: {error}"))?;
            eprintln!(
                "t4dm-gateway {}: serving MCP at http://{address}{}",
                env!("CARGO_PKG_VERSION"),
                http::ENDPOINT
            );
            tokio::select! {
                () = http::serve_http(gateway, listener) => Ok(()),
                () = shutdown_signal() => Ok(()),
            }
        }
    }
}

/// Ctrl-C, or SIGTERM where there is one: both end the server cleanly, exporting what is left.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, parse_args};

    fn parse(args: &[&str]) -> Result<Option<Mode>, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]), Ok(Some(Mode::Stdio)));
        assert_eq!(parse(&["--demo"]), Ok(Some(Mode::Demo)));
        assert_eq!(parse(&["--http", "8080"]), Ok(Some(Mode::Http(8080))));
        assert!(parse(&["--http"]).is_err());
        assert!(parse(&["--http", "x"]).is_err());
        assert!(parse(&["--demo", "--http", "1"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
