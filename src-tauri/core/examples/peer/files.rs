//! Files for the headless peer: `--receive-dir DIR` saves files peers send (docs/files.md) into DIR,
//! `--send-file PATH` sends PATH to the first peer whose link opens; `--expect-files N` stops after N
//! received. Prints `file-started`, `file-received` (with `path` and `sha256`), `file-sent` and
//! `file-ended` (with `reason`) as JSON lines.

use std::path::PathBuf;

use p2pchat_core::links::{DEFAULT_MAX_FILE_BYTES, FileEvent, FileOptions, LinkManager};
use serde_json::json;
use tokio::sync::mpsc;

#[derive(clap::Args, Debug)]
pub struct FileArgs {
    /// Send this file to the first peer whose link opens; the run succeeds once the peer confirmed it.
    #[arg(long)]
    pub send_file: Option<PathBuf>,
    /// Accept files from peers into this folder (without it, offers are refused).
    #[arg(long)]
    pub receive_dir: Option<PathBuf>,
    /// Stop once this many files were received (or failed to).
    #[arg(long, default_value_t = 0)]
    pub expect_files: u64,
    /// Largest file accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
}

/// The file work asked for on the command line, and how it went.
pub struct Files {
    events: mpsc::Receiver<FileEvent>,
    to_send: Option<PathBuf>,
    sending: Option<String>,
    sent: Option<bool>,
    expect: u64,
    received: u64,
    failed_incoming: u64,
}

impl Files {
    pub fn enable(manager: &LinkManager, args: &FileArgs) -> Files {
        let (tx, events) = mpsc::channel(256);
        manager.enable_files(FileOptions {
            dir: args.receive_dir.clone().unwrap_or_else(std::env::temp_dir),
            max_bytes: if args.receive_dir.is_some() {
                args.max_file_bytes
            } else {
                0
            },
            events: tx,
        });
        Files {
            events,
            to_send: args.send_file.clone(),
            sending: None,
            sent: None,
            expect: args.expect_files,
            received: 0,
            failed_incoming: 0,
        }
    }

    pub async fn recv(&mut self) -> Option<FileEvent> {
        self.events.recv().await
    }

    /// A peer's link opened: the file to send goes to the first one.
    pub async fn peer_open(&mut self, manager: &LinkManager, room: &str, peer: &str) {
        let Some(path) = self.to_send.take() else {
            return;
        };
        match manager.send_file(room, peer, &path).await {
            Ok(id) => self.sending = Some(id),
            Err(err) => {
                println!(
                    "{}",
                    json!({"event": "file-ended", "reason": err.to_string()})
                );
                self.sent = Some(false);
            }
        }
    }

    pub fn on_event(&mut self, event: FileEvent) {
        match &event {
            FileEvent::Progress { .. } => return,
            FileEvent::Received { .. } => self.received += 1,
            FileEvent::Sent { id, .. } if self.sending.as_ref() == Some(id) => {
                self.sent = Some(true)
            }
            FileEvent::Ended { id, .. } if self.sending.as_ref() == Some(id) => {
                self.sent = Some(false)
            }
            FileEvent::Ended { .. } => self.failed_incoming += 1,
            _ => {}
        }
        let mut line = serde_json::to_value(&event).unwrap_or_default();
        if let Some(kind) = line
            .get("kind")
            .and_then(|k| k.as_str())
            .map(|k| format!("file-{k}"))
        {
            line["event"] = kind.into();
        }
        println!("{line}");
    }

    /// `Some(ok)` once everything asked for is over; `None` while it is not (or nothing was asked).
    pub fn finished(&self) -> Option<bool> {
        let asked_send = self.to_send.is_some() || self.sending.is_some() || self.sent.is_some();
        if !asked_send && self.expect == 0 {
            return None;
        }
        if asked_send && self.sent.is_none() {
            return None;
        }
        if self.received + self.failed_incoming < self.expect {
            return None;
        }
        Some(self.sent.unwrap_or(true) && self.failed_incoming == 0)
    }
}
