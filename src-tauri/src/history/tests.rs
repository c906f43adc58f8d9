//! History on a real SQLite file in a temporary folder: what users rely on when they scroll, search and
//! reopen the app (nothing lost, nothing doubled, damaged files kept aside, clear errors).

use std::time::Duration;

use sqlx::Connection;
use tempfile::TempDir;

use super::*;

async fn open(dir: &TempDir) -> History {
    History::open(&dir.path().join(DB_FILE), &OpenOptions::default())
        .await
        .expect("history opens")
        .history
}

/// Another program's connection to the (plain) file at `path`, in the middle of a write: it holds the
/// write lock until it rolls back or closes.
pub(super) async fn hold_write_lock(path: &std::path::Path) -> sqlx::SqliteConnection {
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("INSERT INTO settings (key, value) VALUES ('k', 'v')")
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}

fn msg(id: &str, room: &str, body: &str, sent_at: i64, outgoing: bool) -> NewMessage {
    NewMessage {
        id: id.into(),
        room: room.into(),
        sender: if outgoing {
            "me".into()
        } else {
            "peer-b".into()
        },
        sender_name: if outgoing { "Ann".into() } else { "Bob".into() },
        outgoing,
        body: body.into(),
        sent_at,
    }
}

/// A first start creates every table; reopening applies nothing twice and keeps the data.
#[tokio::test]
async fn migrates_from_empty_and_reopens_with_data() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type IN ('table') ORDER BY name")
            .fetch_all(history.pool())
            .await
            .unwrap();
    for table in [
        "calls",
        "conversations",
        "messages",
        "messages_fts",
        "peers",
        "settings",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "missing table {table}: {tables:?}"
        );
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(history.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(history.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    history
        .insert_messages(&[msg("m1", "team", "hello", 1, false)])
        .await
        .unwrap();
    history.close().await;

    let again = History::open(&dir.path().join(DB_FILE), &OpenOptions::default())
        .await
        .unwrap();
    assert!(again.recovered_from.is_none());
    let page = again
        .history
        .messages_page("team", None, PAGE_SIZE)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(again.history.pool())
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

/// The same message delivered twice (retry, duplicate data-channel delivery) is stored once, searched once.
#[tokio::test]
async fn inserting_the_same_id_twice_keeps_one_row() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let m = msg("0190-dup", "team", "only once please", 10, false);
    assert_eq!(
        history
            .insert_messages(std::slice::from_ref(&m))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        history
            .insert_messages(&[m.clone(), m.clone()])
            .await
            .unwrap(),
        0
    );
    let page = history
        .messages_page("team", None, PAGE_SIZE)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(history.search("once", None, 50).await.unwrap().len(), 1);
    // The duplicate did not count as another unread message.
    assert_eq!(history.list_conversations(None).await.unwrap()[0].unread, 1);
}

/// Scrolling back through a conversation shows every message exactly once, newest first, with equal
/// timestamps ordered by id, and the last page says there is nothing older.
#[tokio::test]
async fn keyset_pages_cover_every_message_once_in_order() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    // 120 messages, three per millisecond (ties), plus another room that must not leak in.
    let batch: Vec<NewMessage> = (0..120)
        .map(|i| {
            msg(
                &format!("id-{i:04}"),
                "team",
                &format!("message {i}"),
                1000 + i / 3,
                i % 2 == 0,
            )
        })
        .chain((0..10).map(|i| msg(&format!("other-{i}"), "other", "elsewhere", 1000 + i, false)))
        .collect();
    assert_eq!(history.insert_messages(&batch).await.unwrap(), 130);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = history
            .messages_page("team", cursor.as_ref(), 50)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.messages.iter().map(|m| m.id.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..120).rev().map(|i| format!("id-{i:04}")).collect();
    assert_eq!(seen, expected);

    // Exactly one full page: no cursor, so the UI never asks for an empty page.
    let exact = history.messages_page("other", None, 10).await.unwrap();
    assert_eq!(exact.messages.len(), 10);
    assert_eq!(exact.next, None);
    // Unknown room and a cursor before the first message: empty, no cursor.
    assert_eq!(
        history
            .messages_page("nobody", None, 50)
            .await
            .unwrap()
            .messages
            .len(),
        0
    );
    let before_all = Cursor {
        sent_at: 0,
        id: String::new(),
    };
    let empty = history
        .messages_page("team", Some(&before_all), 50)
        .await
        .unwrap();
    assert!(empty.messages.is_empty() && empty.next.is_none());
}

/// Search ignores accents both ways, matches word prefixes, ranks the closer match first and highlights
/// the matched words.
#[tokio::test]
async fn search_handles_accents_prefixes_ranking_and_snippets() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    history
        .insert_messages(&[
            msg("a", "team", "Meet at the café near the station", 1, false),
            msg("b", "team", "cafe cafe cafe: the cafe is open", 2, false),
            msg("c", "other", "Crème brûlée for dessert", 3, true),
            msg("d", "team", "nothing relevant here", 4, false),
            msg("e", "team", "Hello world", 5, false),
            msg("f", "team", "नमस्ते दुनिया", 6, false),
        ])
        .await
        .unwrap();

    let hits = history.search("cafe", None, 50).await.unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        ids,
        ["b", "a"],
        "more occurrences in a shorter text rank first"
    );
    assert!(hits[0].rank <= hits[1].rank);
    let highlighted: Vec<&str> = hits[1]
        .snippet
        .iter()
        .filter(|p| p.hit)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(
        highlighted,
        ["café"],
        "the snippet keeps the original accents"
    );

    assert_eq!(history.search("CAFÉ", None, 50).await.unwrap().len(), 2);
    assert_eq!(
        history.search("brulee creme", None, 50).await.unwrap()[0].id,
        "c"
    );
    assert_eq!(
        history.search("hel", None, 50).await.unwrap()[0].id,
        "e",
        "prefix"
    );
    assert_eq!(
        history.search("wor hel", None, 50).await.unwrap().len(),
        1,
        "all words, any order"
    );
    assert!(
        history
            .search("cafe", Some("other"), 50)
            .await
            .unwrap()
            .is_empty(),
        "room filter"
    );
    assert!(
        history.search("\"(*", None, 50).await.unwrap().is_empty(),
        "no syntax errors"
    );
    assert!(history.search("zebra", None, 50).await.unwrap().is_empty());
    assert_eq!(
        history.search("cafe\u{301}", None, 50).await.unwrap().len(),
        2,
        "a decomposed accent is the same letter"
    );
    assert_eq!(
        history.search("statio", None, 50).await.unwrap()[0].id,
        "a",
        "a long prefix, looked up by its completions"
    );
    assert_eq!(
        history.search("नमस्ते", None, 50).await.unwrap()[0].id,
        "f",
        "a long word the index folds differently is still found"
    );
    let hindi = history.search("नमस", None, 50).await.unwrap();
    assert_eq!(
        hindi.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["f"],
        "a word with combining vowel signs is one word, found by its prefix"
    );
}

/// Messages written before sending wait in the outbox (oldest first) until sent; an ack is final.
#[tokio::test]
async fn outbox_lists_pending_messages_until_sent() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    history
        .insert_messages(&[
            msg("o3", "team", "third", 30, true),
            msg("o1", "team", "first", 10, true),
            msg("o2", "other", "second", 20, true),
            msg("in", "team", "incoming", 15, false),
        ])
        .await
        .unwrap();
    let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(history.outbox(None).await.unwrap()), ["o1", "o2", "o3"]);
    assert_eq!(
        ids(history.outbox(Some("team")).await.unwrap()),
        ["o1", "o3"]
    );

    assert!(
        history
            .set_message_status("o1", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    // A late "sent" after the ack does not downgrade it.
    assert!(
        history
            .set_message_status("o1", MessageStatus::Sent, None)
            .await
            .unwrap()
    );
    assert_eq!(
        history.message("o1").await.unwrap().unwrap().status,
        MessageStatus::Delivered
    );
    history
        .set_message_status("o2", MessageStatus::Failed, Some("peer offline"))
        .await
        .unwrap();
    assert_eq!(
        history
            .message("o2")
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("peer offline")
    );
    assert_eq!(ids(history.outbox(None).await.unwrap()), ["o3"]);
    assert!(
        !history
            .set_message_status("nope", MessageStatus::Sent, None)
            .await
            .unwrap()
    );
    // Incoming messages cannot be turned into outgoing states.
    history
        .set_message_status("in", MessageStatus::Sent, None)
        .await
        .unwrap();
    assert_eq!(
        history.message("in").await.unwrap().unwrap().status,
        MessageStatus::Received
    );
}

/// Closing the history, as the app does when it ends, leaves only the (encrypted) file: SQLite copies the
/// WAL into it and deletes the WAL and its -shm; what was written is there at the next start.
#[tokio::test]
async fn closing_leaves_no_wal_beside_the_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    let options = OpenOptions {
        key: Some(DbKey::generate()),
        ..OpenOptions::default()
    };
    let history = History::open(&path, &options).await.unwrap().history;
    history
        .insert_messages(&[msg("m1", "team", "written before quitting", 10, true)])
        .await
        .unwrap();
    let beside = |suffix: &str| sibling(&path, suffix).exists();
    assert!(beside("-wal"), "an open history writes to its WAL");
    history.close().await;
    assert!(
        !beside("-wal") && !beside("-shm"),
        "WAL or -shm left after closing"
    );
    let reopened = History::open(&path, &options).await.unwrap().history;
    assert_eq!(
        reopened
            .message("m1")
            .await
            .unwrap()
            .map(|m| m.body)
            .as_deref(),
        Some("written before quitting")
    );
}

/// A message found by id is ours when we sent one with that id, else the first received with it (ids are
/// only unique per sender), and the lookup goes through the two id indexes instead of reading every message.
#[tokio::test]
async fn message_by_id_prefers_ours_and_uses_the_id_indexes() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let from = |sender: &str, mut m: NewMessage| {
        m.sender = sender.into();
        m
    };
    history
        .insert_messages(&[
            from("peer-b", msg("same", "team", "Bob's", 10, false)),
            from("peer-c", msg("same", "team", "Cy's", 11, false)),
            msg("same", "team", "mine", 12, true),
            from("peer-c", msg("theirs", "team", "Cy first", 20, false)),
            from("peer-b", msg("theirs", "other", "Bob later", 21, false)),
        ])
        .await
        .unwrap();
    let body = |m: Option<Message>| m.map(|m| m.body);
    assert_eq!(
        body(history.message("same").await.unwrap()).as_deref(),
        Some("mine")
    );
    assert_eq!(
        body(history.message("theirs").await.unwrap()).as_deref(),
        Some("Cy first")
    );
    assert_eq!(history.message("nobody").await.unwrap(), None);

    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "EXPLAIN QUERY PLAN {}",
        messages::message_by_id_sql()
    ))
    .bind("same")
    .fetch_all(history.pool())
    .await
    .unwrap();
    let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN messages")),
        "reads every message: {steps:?}"
    );
    for index in ["messages_own_key", "messages_received_key"] {
        assert!(
            steps
                .iter()
                .any(|s| s.contains(&format!("USING INDEX {index} (id=?)"))),
            "{index} unused: {steps:?}"
        );
    }
}

/// The conversation list shows the latest message and unread count; reading clears it, muting sticks.
#[tokio::test]
async fn conversations_list_last_message_unread_and_mute() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    history
        .insert_messages(&[
            msg("t1", "team", "one", 100, false),
            msg("t2", "team", "two", 200, false),
            msg("t3", "team", "mine", 150, true),
            msg("x1", "other", "older room", 50, false),
        ])
        .await
        .unwrap();
    history.ensure_conversation("empty").await.unwrap();
    let list = history.list_conversations(None).await.unwrap();
    let rooms: Vec<&str> = list.iter().map(|c| c.room.as_str()).collect();
    assert_eq!(
        rooms[..2],
        ["empty", "team"],
        "a new empty room sorts by its creation time"
    );
    let team = &list[1];
    assert_eq!(team.unread, 2);
    assert_eq!(team.last_message.as_ref().unwrap().body, "two");

    history.mark_read("team", 100).await.unwrap();
    history.mark_read("team", 50).await.unwrap(); // never moves back
    let team = history
        .list_conversations(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.room == "team")
        .unwrap();
    assert_eq!(team.unread, 1);
    history
        .insert_messages(&[msg("t0", "team", "late but old", 90, false)])
        .await
        .unwrap();
    let team = history
        .list_conversations(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.room == "team")
        .unwrap();
    assert_eq!(
        team.unread, 1,
        "a message older than the read marker is not unread"
    );
    assert_eq!(
        team.last_message.as_ref().unwrap().body,
        "two",
        "a late message with an older time does not become the last one"
    );
    let newest = history.list_conversations(Some(2)).await.unwrap();
    assert_eq!(
        newest.iter().map(|c| c.room.as_str()).collect::<Vec<_>>(),
        ["empty", "team"],
        "a limit keeps the most recently active"
    );

    assert!(!history.is_muted("team").await.unwrap());
    history.set_muted("team", true).await.unwrap();
    assert!(history.is_muted("team").await.unwrap());
    history.set_joined("team", true).await.unwrap();
    assert_eq!(history.joined_rooms().await.unwrap(), ["team"]);
}

/// Missed, declined and answered calls end up in the log with their outcome and talk time.
#[tokio::test]
async fn call_log_records_outcomes_once() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let call = |id: &str| NewCall {
        id: id.into(),
        room: "team".into(),
        peer: "p".into(),
        peer_name: "Bob".into(),
        direction: CallDirection::Incoming,
        media: vec!["audio".into(), "video".into()],
    };
    assert!(history.call_started(&call("c1")).await.unwrap());
    assert!(
        !history.call_started(&call("c1")).await.unwrap(),
        "same invite twice"
    );
    assert_eq!(
        history
            .call_ended("c1", "team", "p", CallOutcome::Missed)
            .await
            .unwrap(),
        Some(CallOutcome::Missed)
    );
    assert_eq!(
        history
            .call_ended("c1", "team", "p", CallOutcome::Declined)
            .await
            .unwrap(),
        None,
        "already ended"
    );

    history.call_started(&call("c2")).await.unwrap();
    history.call_answered("c2", "team", "p").await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        history
            .call_ended("c2", "team", "p", CallOutcome::Missed)
            .await
            .unwrap(),
        Some(CallOutcome::Answered)
    );

    let log = history.call_log(None, 50).await.unwrap();
    assert_eq!(log.len(), 2);
    let c2 = log.iter().find(|c| c.id == "c2").unwrap();
    assert_eq!(c2.outcome, Some(CallOutcome::Answered));
    assert!(c2.duration_ms.unwrap() >= 5);
    let c1 = log.iter().find(|c| c.id == "c1").unwrap();
    assert_eq!(
        (c1.outcome, c1.duration_ms, c1.media.as_str()),
        (Some(CallOutcome::Missed), None, "audio,video")
    );
}

/// A file that is not a database (or is damaged) is kept under a new name and a fresh history starts,
/// so the app opens instead of failing, and nothing is deleted.
#[tokio::test]
async fn corrupt_file_is_moved_aside_and_a_fresh_database_starts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    let garbage = vec![0x5au8; 8192];
    std::fs::write(&path, &garbage).unwrap();
    let opened = History::open(&path, &OpenOptions::default()).await.unwrap();
    let aside = opened.recovered_from.expect("damaged file moved aside");
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        garbage,
        "the old bytes are kept"
    );
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("history.sqlite3.corrupt-")
    );
    opened
        .history
        .insert_messages(&[msg("m", "team", "fresh start", 1, true)])
        .await
        .unwrap();
    assert_eq!(opened.history.outbox(None).await.unwrap().len(), 1);
}

/// Another program holding the write lock gives a clear "locked" error, not a hang or a silent reset.
#[tokio::test]
async fn locked_database_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DB_FILE);
    open(&dir).await.close().await;
    let mut holder = hold_write_lock(&path).await;

    let options = OpenOptions {
        busy_timeout: Duration::from_millis(100),
        ..OpenOptions::default()
    };
    let err = History::open(&path, &options)
        .await
        .err()
        .expect("open fails while locked");
    assert!(matches!(err, HistoryError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked by another program"));
    assert!(path.exists(), "a locked file is never moved aside");

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    History::open(&path, &options)
        .await
        .expect("opens once the lock is gone");
}

/// A full disk while saving a message is reported as such; the message is not half-stored.
#[tokio::test]
async fn full_disk_is_reported() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(history.pool())
        .await
        .unwrap();
    // Simulate the disk filling up: no connection may grow the file past its current size.
    let options = OpenOptions {
        max_connections: 1,
        ..OpenOptions::default()
    };
    history.close().await;
    let history = History::open(&dir.path().join(DB_FILE), &options)
        .await
        .unwrap()
        .history;
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(history.pool())
        .await
        .unwrap();
    let big: Vec<NewMessage> = (0..200)
        .map(|i| msg(&format!("big-{i}"), "team", &"x".repeat(4000), i, true))
        .collect();
    let err = history.insert_messages(&big).await.unwrap_err();
    assert!(matches!(err, HistoryError::DiskFull(_)), "{err:?}");
    assert!(
        history.outbox(None).await.unwrap().is_empty(),
        "the batch was rolled back as a whole"
    );
}

/// Settings survive a restart.
#[tokio::test]
async fn settings_round_trip() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    assert_eq!(history.setting("server_url").await.unwrap(), None);
    history
        .set_setting("server_url", "ws://a/ws")
        .await
        .unwrap();
    history
        .set_setting("server_url", "ws://b/ws")
        .await
        .unwrap();
    assert_eq!(
        history.setting("server_url").await.unwrap().as_deref(),
        Some("ws://b/ws")
    );
}

/// Message ids are the sender's own: another member sending the same id first (in this room or another)
/// suppresses nothing, the same sender's copy is still one row, and our own message with that id is
/// apart from both (its status changes only ours).
#[tokio::test]
async fn message_ids_are_scoped_by_room_and_sender() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let from = |sender: &str, room: &str, body: &str| NewMessage {
        sender: sender.into(),
        ..msg("0190-same", room, body, 10, false)
    };
    let first = [
        from("peer-mallory", "team", "fake"),
        from("peer-mallory", "other", "elsewhere"),
    ];
    assert_eq!(history.insert_messages(&first).await.unwrap(), 2);
    assert_eq!(
        history
            .insert_messages(&[from("peer-b", "team", "real")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        history
            .insert_messages(&[from("peer-b", "team", "real")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        history
            .insert_messages(&[msg("0190-same", "team", "mine", 11, true)])
            .await
            .unwrap(),
        1
    );
    let bodies = |page: Page| {
        page.messages
            .into_iter()
            .map(|m| m.body)
            .collect::<Vec<_>>()
    };
    let team = history
        .messages_page("team", None, PAGE_SIZE)
        .await
        .unwrap();
    assert_eq!(bodies(team), ["mine", "real", "fake"]);
    assert!(
        history
            .set_message_status("0190-same", MessageStatus::Delivered, None)
            .await
            .unwrap()
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM messages WHERE id = '0190-same' ORDER BY seq")
            .fetch_all(history.pool())
            .await
            .unwrap();
    assert_eq!(statuses, ["received", "received", "received", "delivered"]);
}

/// A history written before ids were scoped per sender upgrades in place: every message, its search
/// entry, the unread count and the conversation's last message are kept.
#[tokio::test]
async fn upgrading_to_per_sender_ids_keeps_the_history() {
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/history/migrations");
    for file in [
        "0001_history.sql",
        "0002_fts_write_buffer.sql",
        "0003_faster_search_and_list.sql",
    ] {
        std::fs::copy(source.join(file), old.join(file)).unwrap();
    }
    let path = dir.path().join(DB_FILE);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO conversations (room, created_at) VALUES ('team', 1);
         INSERT INTO messages (id, room, sender, sender_name, outgoing, body, sent_at, status)
         VALUES ('m1', 'team', 'peer-b', 'Bob', 0, 'before the upgrade', 5, 'received'),
                ('m2', 'team', 'me', 'Ann', 1, 'still pending', 6, 'pending');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let history = open(&dir).await;
    let page = history
        .messages_page("team", None, PAGE_SIZE)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    assert_eq!(history.search("upgrade", None, 50).await.unwrap().len(), 1);
    assert_eq!(history.outbox(None).await.unwrap()[0].id, "m2");
    let conversation = &history.list_conversations(None).await.unwrap()[0];
    assert_eq!(conversation.unread, 1);
    // New rows after the upgrade: another sender's 'm1' is kept, the same sender's is not.
    let again = |sender: &str| NewMessage {
        sender: sender.into(),
        ..msg("m1", "team", "after", 7, false)
    };
    assert_eq!(
        history
            .insert_messages(&[again("peer-b"), again("peer-c")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(history.search("after", None, 50).await.unwrap().len(), 1);
}

fn file(id: &str, room: &str, peer: &str, name: &str, direction: CallDirection) -> NewFile {
    NewFile {
        transfer_id: id.into(),
        room: room.into(),
        peer: peer.into(),
        peer_name: "Bob".into(),
        direction,
        name: name.into(),
        size: 3_145_728,
        sha256: "9b".repeat(32),
        path: format!("/home/ann/Downloads/{name}"),
    }
}

/// Received and sent files are in the history with name, size, hash and path, once each, and survive
/// reopening the app.
#[tokio::test]
async fn files_are_recorded_once_and_kept() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let photo = file("6f0c-1", "team", "p", "photo.jpg", CallDirection::Incoming);
    assert!(history.file_finished(&photo).await.unwrap());
    assert!(
        !history.file_finished(&photo).await.unwrap(),
        "the same transfer twice"
    );
    // The same id from someone else, or our own sent file with it, is another row.
    assert!(
        history
            .file_finished(&file(
                "6f0c-1",
                "team",
                "q",
                "other.bin",
                CallDirection::Incoming
            ))
            .await
            .unwrap()
    );
    assert!(
        history
            .file_finished(&file(
                "6f0c-1",
                "team",
                "p",
                "mine.pdf",
                CallDirection::Outgoing
            ))
            .await
            .unwrap()
    );
    history.close().await;

    let history = open(&dir).await;
    let all = history.search_files("", None, 50).await.unwrap();
    assert_eq!(all.len(), 3);
    let got = all.iter().find(|f| f.name == "photo.jpg").unwrap();
    assert_eq!(
        (
            got.transfer_id.as_str(),
            got.peer.as_str(),
            got.direction,
            got.size,
            got.sha256.as_str(),
            got.path.as_str()
        ),
        (
            "6f0c-1",
            "p",
            CallDirection::Incoming,
            3_145_728,
            "9b".repeat(32).as_str(),
            "/home/ann/Downloads/photo.jpg"
        )
    );
    // Listed newest first.
    assert_eq!(all[0].name, "mine.pdf");
}

/// Searching files by name: any part of the name, any case, accents ignored, every word, a room filter;
/// wildcard characters are plain text.
#[tokio::test]
async fn files_are_found_by_name() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let names = [
        ("a1", "team", "Quarterly Report 2026.pdf"),
        ("a2", "team", "Crème brûlée.jpg"),
        ("a3", "family", "report_draft.docx"),
        ("a4", "family", "100%_done.txt"),
        ("a5", "team", "holiday.png"),
    ];
    for (id, room, name) in names {
        history
            .file_finished(&file(id, room, "p", name, CallDirection::Incoming))
            .await
            .unwrap();
    }
    let found = |query: &'static str, room: Option<&'static str>| {
        let history = history.clone();
        async move {
            let mut names: Vec<String> = history
                .search_files(query, room, 50)
                .await
                .unwrap()
                .into_iter()
                .map(|f| f.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        found("report", None).await,
        ["Quarterly Report 2026.pdf", "report_draft.docx"]
    );
    assert_eq!(found("PORT", Some("family")).await, ["report_draft.docx"]);
    assert_eq!(found("creme", None).await, ["Crème brûlée.jpg"]);
    assert_eq!(found("BRÛL jpg", None).await, ["Crème brûlée.jpg"]);
    assert_eq!(
        found("report pdf", None).await,
        ["Quarterly Report 2026.pdf"]
    );
    assert_eq!(found("%", None).await, ["100%_done.txt"]);
    assert_eq!(
        found("_", None).await,
        ["100%_done.txt", "report_draft.docx"]
    );
    assert!(found("nothing", None).await.is_empty());
    assert_eq!(found("  ", None).await.len(), 5);
    assert_eq!(history.search_files("", None, 2).await.unwrap().len(), 2);
}

/// Bad input from the network is refused before it reaches the database.
#[tokio::test]
async fn files_with_a_bad_id_or_hash_are_refused() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let mut bad = file("../x", "team", "p", "a", CallDirection::Incoming);
    assert!(matches!(
        history.file_finished(&bad).await,
        Err(HistoryError::Invalid(_))
    ));
    bad.transfer_id = "x".into();
    bad.sha256 = "ABC".into();
    assert!(matches!(
        history.file_finished(&bad).await,
        Err(HistoryError::Invalid(_))
    ));
    assert!(history.search_files("", None, 50).await.unwrap().is_empty());
}

/// "Forget this device" leaves nothing to read: no conversation, message, search hit or setting, and no
/// message text anywhere in the database file or its WAL.
#[tokio::test]
async fn forget_erases_everything_and_leaves_no_text_in_the_file() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let secret = "zebracrossing-secret-plans";
    let batch: Vec<NewMessage> = (0..200)
        .map(|i| {
            msg(
                &format!("m{i}"),
                "team",
                &format!("{secret} {i}"),
                1_000 + i,
                i % 2 == 0,
            )
        })
        .collect();
    history.insert_messages(&batch).await.unwrap();
    history.set_setting("display_name", "Ann").await.unwrap();
    history.forget().await.unwrap();
    assert!(history.list_conversations(None).await.unwrap().is_empty());
    assert!(
        history
            .search("zebracrossing", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(history.setting("display_name").await.unwrap(), None);
    // It goes on working as a fresh history.
    history
        .insert_messages(&[msg("n1", "other", "hello again", 5_000, true)])
        .await
        .unwrap();
    assert_eq!(history.list_conversations(None).await.unwrap().len(), 1);
    history.close().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} still holds message text",
            path.display()
        );
    }
}

/// Bytes the page cache of the history's connection holds now.
async fn cache_used(history: &History) -> i32 {
    let mut conn = history.pool().acquire().await.unwrap();
    let mut handle = conn.lock_handle().await.unwrap();
    let (mut used, mut highest) = (0, 0);
    // SAFETY: the handle is locked for this call; sqlite3_db_status only reads the counters.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_status(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBSTATUS_CACHE_USED,
            &mut used,
            &mut highest,
            0,
        )
    };
    assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
    used
}

/// Searching and paging fill the page cache; once nobody has read for a moment it is given back (the app
/// does not hold it for minutes), and the next search finds the same messages.
#[tokio::test]
async fn the_page_cache_is_given_back_after_a_pause() {
    let dir = TempDir::new().unwrap();
    let history = open(&dir).await;
    let messages: Vec<NewMessage> = (0..20_000)
        .map(|i| {
            let body = format!("hello number {i} word{} topic{}", i % 97, i % 13);
            msg(
                &format!("m{i}"),
                &format!("room{}", i % 10),
                &body,
                i,
                i % 2 == 0,
            )
        })
        .collect();
    history.insert_messages(&messages).await.unwrap();
    history.release_cache().await.unwrap();
    let empty = cache_used(&history).await;

    let first = history.search("hello", None, 30).await.unwrap();
    for i in 0..97 {
        history
            .search(&format!("word{i} topic{}", i % 13), None, 30)
            .await
            .unwrap();
    }
    for room in 0..10 {
        history
            .messages_page(&format!("room{room}"), None, 100)
            .await
            .unwrap();
    }
    let filled = cache_used(&history).await;
    assert!(
        filled > empty + 512 * 1024,
        "searching fills the cache: {empty} → {filled} bytes"
    );

    tokio::time::sleep(RELEASE_AFTER + Duration::from_millis(500)).await;
    let released = cache_used(&history).await;
    assert!(
        released < empty + 64 * 1024,
        "the cache is given back after the pause: {filled} → {released} bytes (empty: {empty})"
    );
    assert_eq!(history.search("hello", None, 30).await.unwrap(), first);
}
