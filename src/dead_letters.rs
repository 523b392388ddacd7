//! `loopbot outbox failed` and `loopbot outbox retry`: the operator's view of dead letters
//! (messages Discord refused for good, see `store::outbox::dead_letters`), as text or JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::cli::{ListFormat, OutboxCommand};
use crate::store::{DeadLetter, Retry, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("outbox row {0} is not a dead letter (see `loopbot outbox failed`)")]
    NotADeadLetter(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one `loopbot outbox` subcommand; returns what to print.
pub async fn run(
    store: &Store,
    command: &OutboxCommand,
    now: DateTime<Utc>,
) -> Result<String, DeadLetterError> {
    match command {
        OutboxCommand::Failed { format } => Ok(list(&store.dead_letters().await?, *format)),
        OutboxCommand::Retry { id, all } => {
            let which = match (id, all) {
                (Some(id), false) => Retry::One(*id),
                _ => Retry::All,
            };
            let ids = store.retry_dead_letters(which, now).await?;
            match (which, ids.as_slice()) {
                (Retry::One(id), []) => Err(DeadLetterError::NotADeadLetter(id)),
                (_, []) => Ok("no dead letters to retry\n".into()),
                (_, ids) => Ok(format!(
                    "re-queued {} dead letter{}: {}\n",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

fn list(letters: &[DeadLetter], format: ListFormat) -> String {
    let at = |d: &DeadLetter| d.failed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    match format {
        ListFormat::Json => {
            let rows: Vec<_> = letters
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "subject_kind": d.subject_kind,
                        "subject_id": d.subject_id,
                        // A string: snowflakes do not fit a double.
                        "channel_id": d.channel.0.to_string(),
                        "failed_at": at(d),
                        "reason": d.reason,
                        "updates_refused": d.rows,
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(rows))
        }
        ListFormat::Text if letters.is_empty() => "no dead letters\n".into(),
        ListFormat::Text => {
            let mut out = format!(
                "{:<8} {:<22} {:<20} {:<20} REASON\n",
                "ID", "SUBJECT", "CHANNEL", "FAILED AT"
            );
            for d in letters {
                let mut subject = d.subject();
                if !d.known_kind() {
                    subject.push_str(" (unknown kind)");
                }
                // One line each, whatever Discord answered.
                let reason = d.reason.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push_str(&format!(
                    "{:<8} {:<22} {:<20} {:<20} {reason}\n",
                    d.id,
                    subject,
                    d.channel.0,
                    at(d)
                ));
            }
            out.push_str(&format!(
                "{} dead letter{}; re-queue with `loopbot outbox retry ID` or `--all`\n",
                letters.len(),
                if letters.len() == 1 { "" } else { "s" }
            ));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChannelId;

    #[test]
    fn the_list_names_subject_channel_time_and_reason_on_one_line_each() {
        let letter = DeadLetter {
            id: 17,
            channel: ChannelId(300_000_000_000_000_003),
            subject_kind: "deploy".into(),
            subject_id: 4,
            failed_at: "2026-12-02T15:00:00Z".parse().unwrap(),
            reason: "Discord refused with 400:\n Invalid Form Body".into(),
            rows: 2,
        };
        let text = list(std::slice::from_ref(&letter), ListFormat::Text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for part in [
            "17",
            "deploy #4",
            "300000000000000003",
            "2026-12-02T15:00:00Z",
            "Discord refused with 400: Invalid Form Body",
        ] {
            assert!(lines[1].contains(part), "{part}: {text}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&list(&[letter], ListFormat::Json)).unwrap();
        assert_eq!(json[0]["channel_id"], "300000000000000003");
        assert_eq!(json[0]["updates_refused"], 2);
        assert_eq!(list(&[], ListFormat::Text), "no dead letters\n");
        assert_eq!(list(&[], ListFormat::Json), "[]\n");
    }
}
