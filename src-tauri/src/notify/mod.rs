//! When to notify and what the notification says: an incoming call or chat message while the window is
//! not focused, a missed call, never for a muted room. Rendering is pure (tested here); posting goes
//! through the [`crate::dispatch::Ui`] the app provides (tauri-plugin-notification).

/// Longest message preview shown in a notification, in characters.
const PREVIEW_CHARS: usize = 120;

/// Something worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    IncomingCall {
        room: String,
        call: String,
        from: String,
        video: bool,
    },
    MissedCall {
        room: String,
        from: String,
    },
    Message {
        room: String,
        from: String,
        body: String,
    },
}

/// A notification ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// The room to open when the user acts on it.
    pub room: String,
    /// For a ringing call: its id, and the notification offers Accept/Decline.
    pub call: Option<String>,
}

/// Whether to interrupt the user. Missed calls are shown even when focused (the ring was missed);
/// calls and messages only when the window is in the background. Muted rooms never notify.
pub fn should_notify(alert: &Alert, window_focused: bool, room_muted: bool) -> bool {
    if room_muted {
        return false;
    }
    match alert {
        Alert::MissedCall { .. } => true,
        Alert::IncomingCall { .. } | Alert::Message { .. } => !window_focused,
    }
}

/// The text of the notification for `alert`. Title and body are freedesktop notification markup
/// (a subset of HTML that notification servers render), so peer text in them is escaped.
pub fn render(alert: &Alert) -> Notification {
    let mut n = render_text(alert);
    n.title = escape_markup(&n.title);
    n.body = escape_markup(&n.body);
    n
}

/// `&`, `<` and `>` as entities: peer text shows as written, never as markup (links, images, tags).
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The plain text of the notification for `alert`.
fn render_text(alert: &Alert) -> Notification {
    match alert {
        Alert::IncomingCall {
            room,
            call,
            from,
            video,
        } => Notification {
            title: format!(
                "Incoming {} call from {from}",
                if *video { "video" } else { "audio" }
            ),
            body: format!("in {room}"),
            room: room.clone(),
            call: Some(call.clone()),
        },
        Alert::MissedCall { room, from } => Notification {
            title: format!("Missed call from {from}"),
            body: format!("in {room}"),
            room: room.clone(),
            call: None,
        },
        Alert::Message { room, from, body } => Notification {
            title: format!("{from} in {room}"),
            body: preview(body),
            room: room.clone(),
            call: None,
        },
    }
}

/// First line-ish of a message: whitespace collapsed, cut at a character boundary with an ellipsis.
fn preview(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Alert {
        Alert::Message {
            room: "team".into(),
            from: "Bob".into(),
            body: body.into(),
        }
    }

    /// People are interrupted only when they are not looking, and never for a room they muted.
    #[test]
    fn notifies_in_background_unless_muted_and_always_for_missed_calls() {
        let call = Alert::IncomingCall {
            room: "team".into(),
            call: "c".into(),
            from: "Bob".into(),
            video: true,
        };
        let missed = Alert::MissedCall {
            room: "team".into(),
            from: "Bob".into(),
        };
        assert!(should_notify(&call, false, false));
        assert!(!should_notify(&call, true, false));
        assert!(!should_notify(&message("hi"), true, false));
        assert!(should_notify(&message("hi"), false, false));
        assert!(should_notify(&missed, true, false));
        assert!(!should_notify(&missed, false, true));
        assert!(!should_notify(&message("hi"), false, true));
    }

    #[test]
    fn renders_names_and_a_bounded_single_line_preview() {
        let n = render(&Alert::IncomingCall {
            room: "team".into(),
            call: "c".into(),
            from: "Bob".into(),
            video: false,
        });
        assert_eq!(
            (n.title.as_str(), n.body.as_str()),
            ("Incoming audio call from Bob", "in team")
        );
        assert_eq!(n.call.as_deref(), Some("c"));
        let n = render(&message("line one\n\n  line   two"));
        assert_eq!(
            (n.title.as_str(), n.body.as_str()),
            ("Bob in team", "line one line two")
        );
        let long = "é".repeat(500);
        let n = render(&message(&long));
        assert_eq!(n.body.chars().count(), PREVIEW_CHARS);
        assert!(n.body.ends_with('…'));
    }

    /// Peer text (names, bodies) is notification markup on freedesktop desktops: it must show as text.
    #[test]
    fn escapes_peer_text_for_notification_markup() {
        let n = render(&Alert::Message {
            room: "team".into(),
            from: "<b>Eve</b>".into(),
            body: "<a href=\"http://x\">click</a> & <img src=\"file:///etc\"/>".into(),
        });
        assert_eq!(n.title, "&lt;b&gt;Eve&lt;/b&gt; in team");
        assert_eq!(
            n.body,
            "&lt;a href=\"http://x\"&gt;click&lt;/a&gt; &amp; &lt;img src=\"file:///etc\"/&gt;"
        );
        let n = render(&Alert::IncomingCall {
            room: "team".into(),
            call: "c".into(),
            from: "A&B".into(),
            video: true,
        });
        assert_eq!(n.title, "Incoming video call from A&amp;B");
        let n = render(&Alert::MissedCall {
            room: "team".into(),
            from: "<i>x</i>".into(),
        });
        assert_eq!(n.title, "Missed call from &lt;i&gt;x&lt;/i&gt;");
        // The preview is cut before escaping: an entity is never split.
        let n = render(&message(&"<".repeat(500)));
        assert!(n.body.ends_with("&lt;…"));
    }
}
