//! A slash command as typed in the page's box, `/subscribe kind:deploys service:checkout*`,
//! turned into Discord's `data.options` with the registered command's option types and choices,
//! as Discord's client does. A value runs to the next `option:` of that command, so it may
//! contain spaces (`comment:looks fine to me`).

use serde_json::{json, Value};

/// The command's name and its options, or why the line is not a command the bot registered.
pub fn parse(line: &str, registered: &[Value]) -> Result<(String, Value), String> {
    let line = line.trim();
    let rest = line
        .strip_prefix('/')
        .ok_or("a command starts with /, e.g. /help")?;
    let (name, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let command = registered
        .iter()
        .find(|c| c["name"] == name)
        .ok_or_else(|| format!("/{name} is not one of loopbot's commands"))?;
    // A command with subcommands (`/incident declare title:...`): the next word names one, and
    // its options are nested in it, as Discord's client sends them.
    let subcommands: Vec<&Value> = command["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == 1)
        .collect();
    if !subcommands.is_empty() {
        let rest = rest.trim_start();
        let (sub, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let names: Vec<&str> = subcommands
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        let spec = subcommands
            .iter()
            .find(|s| s["name"] == sub)
            .ok_or_else(|| format!("/{name} is followed by one of {}", names.join(", ")))?;
        let options = options_of(&format!("{name} {sub}"), spec, rest)?;
        return Ok((
            name.to_owned(),
            json!([{"type": 1, "name": sub, "options": options}]),
        ));
    }
    Ok((name.to_owned(), options_of(name, command, rest)?))
}

/// The options of `command` (or a subcommand) typed in `rest`, as Discord's `options` array.
fn options_of(name: &str, command: &Value, rest: &str) -> Result<Value, String> {
    let specs: Vec<&Value> = command["options"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut options = Vec::new();
    for (option, raw) in split_options(rest, &specs)? {
        let spec = specs
            .iter()
            .find(|s| s["name"] == option.as_str())
            .ok_or_else(|| format!("/{name} has no option {option}"))?;
        options.push(json!({
            "name": option,
            "type": spec["type"],
            "value": value(spec, &option, raw.trim())?,
        }));
    }
    for spec in &specs {
        let given = options.iter().any(|o| o["name"] == spec["name"]);
        if spec["required"] == true && !given {
            return Err(format!(
                "/{name} needs {}:",
                spec["name"].as_str().unwrap_or_default()
            ));
        }
    }
    Ok(Value::Array(options))
}

/// `a:1 b:two words` → [("a", "1"), ("b", "two words")]: an option starts at a word
/// `name:` where `name` is one of the command's options.
fn split_options(text: &str, specs: &[&Value]) -> Result<Vec<(String, String)>, String> {
    let is_option = |word: &str| {
        word.split_once(':')
            .is_some_and(|(name, _)| specs.iter().any(|s| s["name"] == name))
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for word in text.split(' ') {
        if is_option(word) {
            let (name, value) = word.split_once(':').unwrap_or((word, ""));
            found.push((name.to_owned(), value.to_owned()));
        } else if let Some((_, value)) = found.last_mut() {
            value.push(' ');
            value.push_str(word);
        } else if !word.trim().is_empty() {
            return Err(format!("{word}: options are written name:value"));
        }
    }
    Ok(found)
}

fn value(spec: &Value, option: &str, raw: &str) -> Result<Value, String> {
    if let Some(choices) = spec["choices"].as_array().filter(|c| !c.is_empty()) {
        let names: Vec<&str> = choices.iter().filter_map(|c| c["name"].as_str()).collect();
        return choices
            .iter()
            .find(|c| c["name"] == raw || c["value"] == raw)
            .map(|c| c["value"].clone())
            .ok_or_else(|| format!("{option} is one of {}", names.join(", ")));
    }
    Ok(match spec["type"].as_u64() {
        Some(4) => json!(raw
            .parse::<i64>()
            .map_err(|_| format!("{option} is a whole number"))?),
        Some(10) => json!(raw
            .parse::<f64>()
            .map_err(|_| format!("{option} is a number"))?),
        Some(5) => match raw {
            "true" | "yes" => json!(true),
            "false" | "no" => json!(false),
            _ => return Err(format!("{option} is true or false")),
        },
        // Users, channels, roles and mentionables are ids; `<@1>` and `<#1>` as Discord shows them.
        Some(6..=9) => json!(raw.trim_matches(|c: char| !c.is_ascii_digit())),
        _ => json!(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subcommand_nests_its_options() {
        let registered = vec![json!({"name": "incident", "options": [
            {"type": 1, "name": "declare", "options": [
                {"type": 3, "name": "title", "required": true},
                {"type": 3, "name": "severity", "required": true,
                 "choices": [{"name": "critical", "value": "critical"}]}]},
            {"type": 1, "name": "resolve", "options": [{"type": 4, "name": "id"}]}]})];
        let (name, options) = parse(
            "/incident declare title:payments down severity:critical",
            &registered,
        )
        .unwrap();
        assert_eq!(name, "incident");
        assert_eq!(
            options,
            json!([{"type": 1, "name": "declare", "options": [
                {"name": "title", "type": 3, "value": "payments down"},
                {"name": "severity", "type": 3, "value": "critical"}]}])
        );
        assert_eq!(
            parse("/incident resolve", &registered).unwrap().1,
            json!([{"type": 1, "name": "resolve", "options": []}])
        );
        assert!(parse("/incident explode", &registered)
            .unwrap_err()
            .contains("declare, resolve"));
        assert!(parse("/incident declare severity:critical", &registered)
            .unwrap_err()
            .contains("needs title"));
    }

    fn commands() -> Vec<Value> {
        vec![json!({
            "name": "feedback",
            "options": [
                {"name": "release", "type": 3, "required": true},
                {"name": "rating", "type": 3, "choices": [
                    {"name": "good", "value": "good"}, {"name": "bad", "value": "bad"}]},
                {"name": "comment", "type": 3},
                {"name": "weeks", "type": 4},
                {"name": "public", "type": 5},
            ],
        })]
    }

    #[test]
    fn options_take_their_types_and_values_run_to_the_next_option() {
        let (name, options) = parse(
            "/feedback release:checkout comment:fine so far weeks:3 public:true rating:good",
            &commands(),
        )
        .unwrap();
        assert_eq!(name, "feedback");
        assert_eq!(
            options,
            json!([
                {"name": "release", "type": 3, "value": "checkout"},
                {"name": "comment", "type": 3, "value": "fine so far"},
                {"name": "weeks", "type": 4, "value": 3},
                {"name": "public", "type": 5, "value": true},
                {"name": "rating", "type": 3, "value": "good"},
            ])
        );
    }

    #[test]
    fn unknown_commands_options_and_values_are_refused_with_a_reason() {
        let commands = commands();
        assert!(parse("feedback", &commands)
            .unwrap_err()
            .contains("starts with /"));
        assert!(parse("/nope", &commands).unwrap_err().contains("/nope"));
        assert!(parse("/feedback rating:good", &commands)
            .unwrap_err()
            .contains("release"));
        assert!(parse("/feedback release:a rating:meh", &commands)
            .unwrap_err()
            .contains("good, bad"));
        assert!(parse("/feedback release:a weeks:x", &commands)
            .unwrap_err()
            .contains("whole number"));
        assert!(parse("/feedback stray release:a", &commands)
            .unwrap_err()
            .contains("name:value"));
    }
}
