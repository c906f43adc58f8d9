//! Reading the JSON cases shared with the web UI's tests (tests/vectors/*.json; docs/architecture.md,
//! "One set of rules").

use serde_json::Value;

/// The cases of a vectors file's text.
pub(crate) fn cases(json: &str) -> Vec<Value> {
    let vectors: Value = serde_json::from_str(json).expect("vectors are JSON");
    vectors["cases"]
        .as_array()
        .expect("vectors have cases")
        .clone()
}

/// A list of strings in a case.
pub(crate) fn strings(v: &Value) -> Vec<String> {
    let list = v.as_array().expect("a list");
    list.iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// The vectors' "<<c*N>>" strings as the character c N times, anywhere in `v`.
pub(crate) fn expand(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let repeated = s
                .strip_prefix("<<")
                .and_then(|s| s.strip_suffix(">>"))
                .and_then(|s| s.rsplit_once('*'))
                .and_then(|(c, n)| Some(c.repeat(n.parse().ok()?)));
            Value::String(repeated.unwrap_or_else(|| s.clone()))
        }
        Value::Array(items) => items.iter().map(expand).collect(),
        Value::Object(fields) => fields.iter().map(|(k, x)| (k.clone(), expand(x))).collect(),
        other => other.clone(),
    }
}

/// A case's text: its `raw` string as is, or its `text` value as compact JSON.
pub(crate) fn case_text(case: &Value) -> String {
    match case.get("raw") {
        Some(raw) => raw.as_str().expect("raw is a string").to_owned(),
        None => expand(&case["text"]).to_string(),
    }
}
