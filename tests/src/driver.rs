//! Runs the `trace-driver` binary as a child process and talks to it line by line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a command may take before the test fails as hung: a guard, not a measurement.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

/// A `trace-driver` process.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// One exporter's counts, as `stats` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans offered to the exporter.
    pub created: u64,
    /// Spans exported.
    pub exported: u64,
    /// Spans whose export failed.
    pub failed: u64,
    /// Spans dropped.
    pub dropped: u64,
    /// Spans waiting.
    pub queued: u64,
    /// Failed export calls.
    pub export_failures: u64,
}

impl Stats {
    /// Whether every created span is accounted for.
    #[must_use]
    pub fn balanced(&self) -> bool {
        self.created == self.exported + self.failed + self.dropped + self.queued
    }
}

impl Driver {
    /// Starts the driver at `binary` with these environment variables (and no inherited
    /// `T4DM_*`/`OTEL_*` ones) and arguments, and waits for it to initialise tracing.
    ///
    /// # Panics
    ///
    /// If the process cannot start or tracing cannot be initialised.
    #[must_use]
    pub fn start(binary: &Path, env: &[(&str, &str)], args: &[&str]) -> Driver {
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("T4DM_") || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the driver starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut driver = Driver {
            child,
            stdin,
            lines,
            stderr,
        };
        let first = driver.next_line();
        assert_eq!(first, "ok init", "the driver initialises tracing");
        driver
    }

    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(ANSWER_LIMIT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!("the driver did not answer within {ANSWER_LIMIT:?}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait();
                panic!("the driver exited without answering ({status:?})");
            }
        }
    }

    /// Sends a command and returns every line up to and including its `ok`/`error` answer.
    ///
    /// # Panics
    ///
    /// If the driver does not answer (the test fails as hung).
    pub fn command(&mut self, command: &str) -> Vec<String> {
        writeln!(self.stdin, "{command}").expect("the driver reads commands");
        self.stdin.flush().expect("the driver reads commands");
        let mut lines = Vec::new();
        loop {
            let line = self.next_line();
            let done = line.starts_with("ok ") || line.starts_with("error ");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Sends a command and returns its final answer line.
    pub fn answer(&mut self, command: &str) -> String {
        self.command(command).pop().unwrap_or_default()
    }

    /// Flushes until a flush succeeds, up to `attempts` times: after a collector comes back, an
    /// export still timing out against the old one may hold the first flush past its timeout.
    /// Returns the last answer.
    pub fn flush_until_ok(&mut self, attempts: usize) -> String {
        let mut answer = String::new();
        for _ in 0..attempts {
            answer = self.answer("flush");
            if answer == "ok flush" {
                break;
            }
        }
        answer
    }

    /// The counts of every exporter, by name.
    ///
    /// # Panics
    ///
    /// If the driver's answer is malformed.
    pub fn stats(&mut self) -> HashMap<String, Stats> {
        let mut all = HashMap::new();
        for line in self.command("stats") {
            let Some(rest) = line.strip_prefix("stats ") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let exporter = words.next().unwrap_or_default().to_owned();
            let fields: HashMap<&str, u64> = words
                .filter_map(|word| word.split_once('='))
                .map(|(key, value)| (key, value.parse().expect("a count")))
                .collect();
            all.insert(
                exporter,
                Stats {
                    created: fields["created"],
                    exported: fields["exported"],
                    failed: fields["failed"],
                    dropped: fields["dropped"],
                    queued: fields["queued"],
                    export_failures: fields["export_failures"],
                },
            );
        }
        all
    }

    /// Sends `shutdown`, waits for the process to exit, and returns the answer with everything
    /// it wrote on stderr.
    ///
    /// # Panics
    ///
    /// If the process does not exit successfully.
    #[must_use = "the answer says whether shutdown exported everything"]
    pub fn shutdown(mut self) -> (String, String) {
        let answer = self.answer("shutdown");
        drop(self.stdin);
        let status = self.child.wait().expect("the driver exits");
        let stderr = self.stderr.join().unwrap_or_default();
        assert!(
            status.success(),
            "the driver exits cleanly: {status}\n{stderr}"
        );
        (answer, stderr)
    }

    /// The process id, as `process.pid` should report it.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
