//! A local Discord for trying loopbot without a Discord account: the same server the tests use
//! (crates/fake-discord), run by hand. It prints what the bot posts and edits, and reads
//! commands from stdin to act as a person in the server.
//!
//!     cargo run --example discord-sandbox [-- --addr 127.0.0.1:5001]
//!
//! Then start the bot with DISCORD_API_URL pointing here (the sandbox prints the exact command).

use std::net::SocketAddr;
use std::time::Duration;

use fake_discord::{FakeDiscord, ADMIN_USER_ID, CHANNEL_ID, GUILD_ID, OTHER_CHANNEL_ID};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const HELP: &str = "\
Type a command as the server's admin (in #deploys unless you prefix it with #payments):
  /subscribe kind=deploys service=checkout*     any slash command, options as name=value
  #payments /subscriptions                      the same in the other channel
  react <message id> <emoji>                    add a reaction to a message
  say <text>                                    post a message as a person
  help | quit";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr: SocketAddr = ([127, 0, 0, 1], 5001).into();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next().and_then(|a| a.parse().ok()) {
                Some(a) => addr = a,
                None => return eprintln!("--addr needs an address such as 127.0.0.1:5001"),
            },
            "-h" | "--help" => return println!("discord-sandbox [--addr IP:PORT]\n\n{HELP}"),
            other => return eprintln!("unknown argument {other}; try --help"),
        }
    }
    let fake = match FakeDiscord::start_on(addr).await {
        Ok(fake) => fake,
        Err(e) => return eprintln!("cannot listen on {addr}: {e}"),
    };
    println!(
        "Local Discord listening on {url}\n\nStart the bot against it:\n  \
         DISCORD_TOKEN=sandbox DISCORD_API_URL={url} LOOPBOT_API_TOKEN=dev \\\n  \
         LOOPBOT_DEFAULT_CHANNEL={CHANNEL_ID} LOOPBOT_GUILD_IDS={GUILD_ID} \\\n  \
         DATABASE_URL=sqlite://sandbox.db cargo run -- serve\n\n\
         Channels: #deploys = {CHANNEL_ID}, #payments = {OTHER_CHANNEL_ID}\n\n{HELP}\n",
        url = fake.url()
    );
    tokio::spawn(print_traffic(fake.clone()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Err(e) = act(&fake, line.trim()).await {
            println!("! {e}");
        }
    }
}

/// Prints every message the bot posts or edits and every interaction answer, as they arrive.
async fn print_traffic(fake: FakeDiscord) {
    let mut seen = 0;
    loop {
        let requests = fake.requests();
        for request in requests.iter().skip(seen) {
            let what = match (request.method.as_str(), request.path.as_str()) {
                ("POST", p) if p.ends_with("/messages") => "posted",
                ("PATCH", p) if p.contains("/messages/") => "edited",
                ("POST", p) if p.contains("/callback") => "answered",
                _ => continue,
            };
            println!("[{what} {}] {}", request.status, describe(&request.body));
        }
        seen = requests.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn describe(body: &Value) -> String {
    let body = if body["data"].is_object() {
        &body["data"]
    } else {
        body
    };
    let mut parts = Vec::new();
    if let Some(content) = body["content"].as_str() {
        parts.push(content.to_owned());
    }
    for embed in body["embeds"].as_array().into_iter().flatten() {
        if let Some(title) = embed["title"].as_str() {
            parts.push(title.to_owned());
        }
        for field in embed["fields"].as_array().into_iter().flatten() {
            parts.push(format!(
                "{}: {}",
                field["name"].as_str().unwrap_or(""),
                field["value"].as_str().unwrap_or("")
            ));
        }
    }
    parts.join(" | ")
}

async fn act(fake: &FakeDiscord, line: &str) -> Result<(), String> {
    let (channel, line) = match line.strip_prefix("#payments") {
        Some(rest) => (OTHER_CHANNEL_ID, rest.trim()),
        None => (CHANNEL_ID, line),
    };
    let mut words = line.split_whitespace();
    match words.next() {
        None => Ok(()),
        Some("quit") => std::process::exit(0),
        Some("help") => {
            println!("{HELP}");
            Ok(())
        }
        Some("say") => {
            let text = words.collect::<Vec<_>>().join(" ");
            let id = fake.user_message(channel, ADMIN_USER_ID, &text, None).await;
            println!("(message {id} posted)");
            Ok(())
        }
        Some("react") => {
            let message = words
                .next()
                .and_then(|m| m.parse().ok())
                .ok_or("react <message id> <emoji>")?;
            let emoji = words.next().ok_or("react <message id> <emoji>")?;
            fake.add_reaction(channel, message, ADMIN_USER_ID, emoji)
                .await;
            Ok(())
        }
        Some(slash) if slash.starts_with('/') => {
            let name = &slash[1..];
            let options = slash_options(fake, name, words)?;
            fake.send_slash_command(channel, ADMIN_USER_ID, name, options)
                .await;
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other}; type help")),
    }
}

/// Turns `name=value` words into Discord's option array, using the registered command's option
/// types and choices, as Discord's client does.
fn slash_options<'a>(
    fake: &FakeDiscord,
    command: &str,
    words: impl Iterator<Item = &'a str>,
) -> Result<Value, String> {
    let registered = fake
        .registered_commands()
        .into_iter()
        .find(|c| c["name"] == command)
        .ok_or_else(|| format!("/{command} is not registered (is the bot running?)"))?;
    let mut options = Vec::new();
    for word in words {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("{word}: expected name=value"))?;
        let spec = registered["options"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["name"] == name))
            .ok_or_else(|| format!("/{command} has no option {name}"))?;
        let value = match spec["choices"].as_array().filter(|c| !c.is_empty()) {
            Some(choices) => choices
                .iter()
                .find(|c| c["name"] == value)
                .map(|c| c["value"].clone())
                .ok_or_else(|| format!("{name} must be one of {}", spec["choices"]))?,
            None if spec["type"] == 4 => json!(value.parse::<i64>().map_err(|e| e.to_string())?),
            None if spec["type"] == 5 => json!(value == "true"),
            None => json!(value),
        };
        options.push(json!({"name": name, "type": spec["type"], "value": value}));
    }
    Ok(Value::Array(options))
}
