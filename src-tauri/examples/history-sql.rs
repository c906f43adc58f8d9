//! Runs SQL on the app's history file and prints the rows, one per line, columns joined by `|`: for the
//! Xvfb and .deb tests, and for looking into a history by hand. The key is the app's, from the OS keyring
//! (`--passphrase` for a history protected by one; `--plain` for a file from before encryption). The
//! file is opened read-only.
//!
//! `history-sql --db PATH [--plain | --passphrase TEXT] "SELECT ..."`

use std::path::PathBuf;

use p2pchat_app_lib::history::DbKey;
use p2pchat_app_lib::history::keystore::{self, Lookup};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, ValueRef};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut db, mut key, mut plain, mut sql) = (None, None, false, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().map(PathBuf::from),
            "--plain" => plain = true,
            "--passphrase" => key = args.next().map(|p| DbKey::passphrase(&p)),
            _ => sql = Some(arg),
        }
    }
    let (Some(db), Some(sql)) = (db, sql) else {
        return Err(
            "usage: history-sql --db PATH [--plain | --passphrase TEXT] \"SELECT ...\"".into(),
        );
    };
    let key = match (key, plain) {
        (Some(key), _) => Some(key),
        (None, true) => None,
        (None, false) => match keystore::load(&db) {
            Lookup::Found(key) => Some(key),
            Lookup::Missing => {
                return Err(format!("the keyring holds no key for {}", db.display()).into());
            }
            Lookup::Unavailable(reason) => return Err(reason.into()),
        },
    };
    let mut options = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .log_statements(log::LevelFilter::Off);
    if let Some(key) = &key {
        options = options.pragma("key", key.sql_literal().to_string());
    }
    let mut conn = options.connect().await?;
    let rows: Vec<SqliteRow> = sqlx::query(&sql).fetch_all(&mut conn).await?;
    for row in rows {
        let cells: Vec<String> = (0..row.len()).map(|i| cell(&row, i)).collect();
        println!("{}", cells.join("|"));
    }
    // Closed before exiting: the connection's thread must not be inside SQLCipher while the process's
    // exit handlers tear OpenSSL down.
    conn.close().await?;
    Ok(())
}

/// One column as text (NULL for null, hex for a blob).
fn cell(row: &SqliteRow, i: usize) -> String {
    if row.try_get_raw(i).is_ok_and(|v| v.is_null()) {
        return "NULL".into();
    }
    if let Ok(n) = row.try_get::<i64, _>(i) {
        return n.to_string();
    }
    if let Ok(x) = row.try_get::<f64, _>(i) {
        return x.to_string();
    }
    if let Ok(s) = row.try_get::<String, _>(i) {
        return s;
    }
    match row.try_get::<Vec<u8>, _>(i) {
        Ok(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(err) => format!("<{err}>"),
    }
}
