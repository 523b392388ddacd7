//! Discord's documented limits on a whole message, checked in one place. Every body the delivery
//! worker sends passes [`enforce`] (through `render::render`): a body over a limit is logged as the
//! renderer bug it is and cut to fit, because Discord would refuse it whole (400, code 50035) and
//! the page or announcement would be lost. The property tests hold every renderer to [`check`]
//! without that safety net. Imports only `message`.

use std::collections::HashSet;
use std::fmt;

use super::message::{
    truncate, Rendered, ACTION_ROWS_MAX, BUTTON_LABEL_MAX, CONTENT_MAX, CUSTOM_ID_MAX, EMBEDS_MAX,
    EMBED_DESCRIPTION_MAX, EMBED_FIELDS_MAX, EMBED_FIELD_NAME_MAX, EMBED_FIELD_VALUE_MAX,
    EMBED_FOOTER_MAX, EMBED_TITLE_MAX, EMBED_TOTAL_MAX, NAME_MAX, ROW_BUTTONS_MAX,
};

/// One way a message breaks Discord's rules; `what` names the part (`embeds[0].fields[3].value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    TooLong {
        what: String,
        chars: usize,
        max: usize,
    },
    TooMany {
        what: String,
        count: usize,
        max: usize,
    },
    /// Discord refuses an empty field name or value, button id, thread name or message.
    Empty { what: String },
    /// Two buttons of one message with the same `custom_id`.
    Duplicate { what: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TooLong { what, chars, max } => {
                write!(f, "{what}: {chars} characters (max {max})")
            }
            Violation::TooMany { what, count, max } => write!(f, "{what}: {count} (max {max})"),
            Violation::Empty { what } => write!(f, "{what}: empty"),
            Violation::Duplicate { what } => write!(f, "{what}: used twice"),
        }
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn too_long(out: &mut Vec<Violation>, what: impl Fn() -> String, text: &str, max: usize) {
    let n = chars(text);
    if n > max {
        out.push(Violation::TooLong {
            what: what(),
            chars: n,
            max,
        });
    }
}

fn too_many(out: &mut Vec<Violation>, what: impl Fn() -> String, count: usize, max: usize) {
    if count > max {
        out.push(Violation::TooMany {
            what: what(),
            count,
            max,
        });
    }
}

/// Every limit `message` breaks, in the order Discord lists them; empty when it may be sent.
/// Characters are counted as Discord counts them (Unicode scalar values).
pub fn violations(message: &Rendered) -> Vec<Violation> {
    let mut out = Vec::new();
    let content = message.content.as_deref().unwrap_or("");
    too_long(&mut out, || "content".into(), content, CONTENT_MAX);
    if content.is_empty() && message.embeds.is_empty() && message.files.is_empty() {
        out.push(Violation::Empty {
            what: "message".into(),
        });
    }
    too_many(
        &mut out,
        || "embeds".into(),
        message.embeds.len(),
        EMBEDS_MAX,
    );
    for (e, embed) in message.embeds.iter().enumerate() {
        let part = |name: &str| format!("embeds[{e}].{name}");
        if let Some(title) = &embed.title {
            too_long(&mut out, || part("title"), title, EMBED_TITLE_MAX);
        }
        if let Some(description) = &embed.description {
            too_long(
                &mut out,
                || part("description"),
                description,
                EMBED_DESCRIPTION_MAX,
            );
        }
        if let Some(footer) = &embed.footer {
            too_long(&mut out, || part("footer.text"), footer, EMBED_FOOTER_MAX);
        }
        too_many(
            &mut out,
            || part("fields"),
            embed.fields.len(),
            EMBED_FIELDS_MAX,
        );
        for (i, field) in embed.fields.iter().enumerate() {
            for (name, text, max) in [
                ("name", &field.name, EMBED_FIELD_NAME_MAX),
                ("value", &field.value, EMBED_FIELD_VALUE_MAX),
            ] {
                let what = || part(&format!("fields[{i}].{name}"));
                if text.trim().is_empty() {
                    out.push(Violation::Empty { what: what() });
                }
                too_long(&mut out, what, text, max);
            }
        }
    }
    let total: usize = message.embeds.iter().map(|e| e.chars()).sum();
    if total > EMBED_TOTAL_MAX {
        out.push(Violation::TooLong {
            what: "embeds (title, description, fields, footer, author together)".into(),
            chars: total,
            max: EMBED_TOTAL_MAX,
        });
    }
    too_many(
        &mut out,
        || "components (action rows)".into(),
        message.components.len(),
        ACTION_ROWS_MAX,
    );
    let mut ids = HashSet::new();
    for (r, row) in message.components.iter().enumerate() {
        if row.is_empty() {
            out.push(Violation::Empty {
                what: format!("components[{r}]"),
            });
        }
        too_many(
            &mut out,
            || format!("components[{r}] (buttons)"),
            row.len(),
            ROW_BUTTONS_MAX,
        );
        for (b, button) in row.iter().enumerate() {
            let part = |name: &str| format!("components[{r}].components[{b}].{name}");
            too_long(&mut out, || part("label"), &button.label, BUTTON_LABEL_MAX);
            if button.label.is_empty() && button.emoji.is_none() {
                out.push(Violation::Empty {
                    what: part("label"),
                });
            }
            too_long(
                &mut out,
                || part("custom_id"),
                &button.custom_id,
                CUSTOM_ID_MAX,
            );
            if button.custom_id.is_empty() {
                out.push(Violation::Empty {
                    what: part("custom_id"),
                });
            } else if !ids.insert(button.custom_id.as_str()) {
                out.push(Violation::Duplicate {
                    what: part("custom_id"),
                });
            }
        }
    }
    out
}

/// `Ok` when Discord will take `message`, else every limit it breaks.
pub fn check(message: &Rendered) -> Result<(), Vec<Violation>> {
    let found = violations(message);
    if found.is_empty() {
        Ok(())
    } else {
        Err(found)
    }
}

/// A thread's name: 1 to 100 characters.
pub fn check_thread_name(name: &str) -> Result<(), Violation> {
    if name.trim().is_empty() {
        return Err(Violation::Empty {
            what: "thread name".into(),
        });
    }
    let mut out = Vec::new();
    too_long(&mut out, || "thread name".into(), name, NAME_MAX);
    out.pop().map_or(Ok(()), Err)
}

/// A thread name Discord takes: cut to 100 characters, `fallback` when empty.
pub fn thread_name(name: &str, fallback: &str) -> String {
    let name = if name.trim().is_empty() {
        fallback
    } else {
        name
    };
    truncate(name, NAME_MAX)
}

/// The safety net before a body is sent: `message` unchanged when it is within every limit,
/// else an error log naming what broke (a renderer to fix) and the message cut to fit.
pub fn enforce(message: Rendered) -> Rendered {
    match check(&message) {
        Ok(()) => message,
        Err(found) => {
            let found: Vec<String> = found.iter().map(ToString::to_string).collect();
            tracing::error!(
                violations = %found.join("; "),
                "a rendered message breaks Discord's limits; sending it cut to fit"
            );
            fit(message)
        }
    }
}

/// Cuts `message` until [`check`] passes: each text to its own limit (empty required texts
/// become "—"), then the longest embed texts until the 6 000 total fits; buttons beyond Discord's
/// rows and columns, or with an id Discord refuses, are left out (a cut id would route the
/// click elsewhere).
pub fn fit(mut message: Rendered) -> Rendered {
    if let Some(content) = &mut message.content {
        *content = truncate(content, CONTENT_MAX);
    }
    message.embeds.truncate(EMBEDS_MAX);
    for embed in &mut message.embeds {
        let cut = |text: &mut Option<String>, max| {
            if let Some(t) = text {
                *t = truncate(t, max);
            }
        };
        cut(&mut embed.title, EMBED_TITLE_MAX);
        cut(&mut embed.description, EMBED_DESCRIPTION_MAX);
        cut(&mut embed.footer, EMBED_FOOTER_MAX);
        embed.fields.truncate(EMBED_FIELDS_MAX);
        for field in &mut embed.fields {
            for (text, max) in [
                (&mut field.name, EMBED_FIELD_NAME_MAX),
                (&mut field.value, EMBED_FIELD_VALUE_MAX),
            ] {
                *text = if text.trim().is_empty() {
                    "—".to_owned()
                } else {
                    truncate(text, max)
                };
            }
        }
    }
    fit_total(&mut message);
    if message.content.as_deref().unwrap_or("").is_empty()
        && message.embeds.is_empty()
        && message.files.is_empty()
    {
        message.content = Some("—".into());
    }
    let mut ids = HashSet::new();
    for row in &mut message.components {
        row.retain(|b| {
            !b.custom_id.is_empty()
                && chars(&b.custom_id) <= CUSTOM_ID_MAX
                && ids.insert(b.custom_id.clone())
        });
        row.truncate(ROW_BUTTONS_MAX);
        for button in row.iter_mut() {
            button.label = truncate(&button.label, BUTTON_LABEL_MAX);
            if button.label.is_empty() && button.emoji.is_none() {
                button.label = "—".into();
            }
        }
    }
    message.components.retain(|row| !row.is_empty());
    message.components.truncate(ACTION_ROWS_MAX);
    message
}

/// Shortens the longest counted text of all embeds until their total is within 6 000.
fn fit_total(message: &mut Rendered) {
    loop {
        let total: usize = message.embeds.iter().map(|e| e.chars()).sum();
        let over = total.saturating_sub(EMBED_TOTAL_MAX);
        if over == 0 {
            return;
        }
        let longest = message
            .embeds
            .iter_mut()
            .flat_map(|e| {
                let texts = [&mut e.title, &mut e.description, &mut e.footer];
                texts.into_iter().flatten().chain(
                    e.fields
                        .iter_mut()
                        .flat_map(|f| [&mut f.name, &mut f.value]),
                )
            })
            .max_by_key(|t| chars(t));
        let Some(longest) = longest else { return };
        let len = chars(longest);
        if len <= 1 {
            return;
        }
        *longest = truncate(longest, len.saturating_sub(over).max(1));
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
