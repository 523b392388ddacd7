//! Request bodies and queries: JSON, or multipart with `payload_json` and uploaded files.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};

/// A file from a multipart upload.
pub(crate) struct Upload {
    pub(crate) field: String,
    pub(crate) filename: String,
    pub(crate) size: usize,
    pub(crate) content_type: Option<String>,
    /// The file itself, so tests can look at what was sent (a chart, say).
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

pub(crate) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Request bodies.
// ---------------------------------------------------------------------------------------------

/// JSON body, or for multipart the parsed `payload_json` (plus `"_files"`) and the uploads.
pub(crate) fn parse_body(headers: &HeaderMap, body: &[u8]) -> (Value, Vec<Upload>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| {
            rest.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
    {
        return parse_multipart(body, boundary.trim_matches('"'));
    }
    if body.is_empty() {
        return (Value::Null, Vec::new());
    }
    (
        serde_json::from_slice(body).unwrap_or(Value::Null),
        Vec::new(),
    )
}

pub(crate) fn parse_multipart(body: &[u8], boundary: &str) -> (Value, Vec<Upload>) {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&body[from..], delimiter) {
        starts.push(from + pos);
        from += pos + delimiter.len();
    }
    let mut payload = Value::Null;
    let mut uploads = Vec::new();
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            } else if key.eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').skip(1) {
                    match param.trim().split_once('=') {
                        Some(("name", v)) => name = Some(v.trim_matches('"').to_string()),
                        Some(("filename", v)) => filename = Some(v.trim_matches('"').to_string()),
                        _ => {}
                    }
                }
            }
        }
        match (name, filename) {
            (Some(name), None) if name == "payload_json" => {
                payload = serde_json::from_slice(content).unwrap_or(Value::Null);
            }
            (Some(field), Some(filename)) => {
                uploads.push(Upload {
                    field,
                    filename,
                    size: content.len(),
                    content_type,
                    bytes: content.to_vec(),
                });
            }
            _ => {}
        }
    }
    let files: Vec<Value> = uploads.iter().map(|u| json!(u.filename)).collect();
    if !payload.is_object() {
        payload = json!({});
    }
    payload["_files"] = Value::Array(files);
    (payload, uploads)
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
