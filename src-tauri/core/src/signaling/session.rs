//! Client side of the protocol's session rules (docs/protocol.md, Session 3–4): remembers the session and
//! its resume token to `resume`, tracks the highest `seq` processed, and drops frames replayed twice after
//! a resume.

use chat_protocol::{ClientFrame, PROTOCOL_VERSION, Resume, ServerFrame};

#[derive(Debug, Default)]
pub struct SessionTracker {
    session: Option<String>,
    /// From the latest `welcome`; the server resumes the session only for the holder of this secret.
    resume_token: String,
    last_seq: u64,
}

impl SessionTracker {
    /// The `hello` to send on (re)connect: with `resume` once a session exists.
    pub fn hello(&self, name: &str, token: Option<&str>) -> ClientFrame {
        ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            name: name.to_owned(),
            token: token.map(str::to_owned),
            resume: self.session.as_ref().map(|session| Resume {
                session: session.clone(),
                last_seq: self.last_seq,
                token: self.resume_token.clone(),
            }),
        }
    }

    /// Records a frame; false means it was already processed and must be ignored. A resumed `welcome`
    /// carries the seq the replay continues after; a fresh one starts a new numbering. Every `welcome`
    /// brings a new resume token (the previous one stops working).
    pub fn accept(&mut self, frame: &ServerFrame) -> bool {
        if let ServerFrame::Welcome {
            session,
            seq,
            resume_token,
            ..
        } = frame
        {
            self.session = Some(session.clone());
            self.resume_token.clone_from(resume_token);
            self.last_seq = *seq;
            return true;
        }
        let seq = frame.seq();
        if seq == 0 {
            return true; // a refusal sent before any session exists
        }
        if seq <= self.last_seq {
            return false;
        }
        self.last_seq = seq;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ServerFrame {
        ServerFrame::parse(json).unwrap()
    }

    fn welcome(seq: u64, session: &str, resumed: bool) -> ServerFrame {
        parse(&format!(
            r#"{{"type":"welcome","seq":{seq},"peer":"p","session":"{session}","resumed":{resumed},"resume_token":"rt-{session}-{seq}","heartbeat_ms":10000,"ice_servers":[]}}"#
        ))
    }

    fn pong(seq: u64) -> ServerFrame {
        parse(&format!(r#"{{"type":"pong","seq":{seq}}}"#))
    }

    /// The cases shared with the web UI's tracker (tests/vectors/session.json): both clients resume and
    /// drop replays the same way.
    #[test]
    fn follows_the_shared_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/session.json")).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let mut t = SessionTracker::default();
            for step in case["steps"].as_array().unwrap() {
                if let Some(frame) = step.get("frame") {
                    let accepted = t.accept(&parse(&frame.to_string()));
                    assert_eq!(
                        accepted,
                        step["accept"].as_bool().unwrap(),
                        "{name}: {frame}"
                    );
                } else {
                    let hello = &step["hello"];
                    let sent = t.hello(hello["name"].as_str().unwrap(), hello["token"].as_str());
                    assert_eq!(
                        serde_json::to_value(sent).unwrap(),
                        step["expect"],
                        "{name}"
                    );
                }
            }
        }
    }

    /// A reconnect asks for exactly what was missed and never hands the UI a replayed frame twice.
    #[test]
    fn resumes_from_the_last_processed_seq_and_drops_replays() {
        let mut t = SessionTracker::default();
        let first = serde_json::to_value(t.hello("Ann", None)).unwrap();
        assert_eq!(
            first,
            serde_json::json!({"type": "hello", "v": 1, "name": "Ann"})
        );
        assert!(t.accept(&welcome(1, "s1", false)));
        assert!(t.accept(&pong(2)));
        assert!(t.accept(&pong(3)));
        let again = serde_json::to_value(t.hello("Ann", Some("jwt"))).unwrap();
        assert_eq!(
            again["resume"],
            serde_json::json!({"session": "s1", "last_seq": 3, "token": "rt-s1-1"})
        );
        assert_eq!(again["token"], "jwt");

        assert!(t.accept(&welcome(3, "s1", true)));
        let resumed = serde_json::to_value(t.hello("Ann", None)).unwrap();
        assert_eq!(
            resumed["resume"]["token"], "rt-s1-3",
            "the resumed welcome's token replaces the old one"
        );
        assert!(!t.accept(&pong(3)), "replayed twice");
        assert!(t.accept(&pong(4)));
        assert!(!t.accept(&pong(4)));
        // A fresh session after the grace period restarts numbering.
        assert!(t.accept(&welcome(1, "s2", false)));
        assert!(t.accept(&pong(2)));
    }
}
